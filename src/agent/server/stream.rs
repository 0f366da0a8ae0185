//! A client connection registered with the runtime for readable events only.
//!
//! tokio's `UnixStream` asks epoll for readable and writable events. On a Unix socket the kernel
//! raises a writable event each time the peer reads what was sent, so every answer a client read
//! woke the agent once more, for nothing: a closed-loop client cost two wakeups a request. An
//! answer (a few hundred bytes) fits the socket buffer and is written at once; only a client that
//! stops reading makes a write wait, and that wait registers a duplicate of the socket for
//! writable events, for this connection alone.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

pub struct ReadableStream {
    socket: AsyncFd<UnixStream>,
    /// The same socket (a `dup`) registered for writable events, once a write had to wait.
    writable: Option<AsyncFd<UnixStream>>,
}

impl ReadableStream {
    pub fn new(stream: tokio::net::UnixStream) -> io::Result<Self> {
        Ok(Self {
            socket: register(stream.into_std()?, Interest::READABLE)?,
            writable: None,
        })
    }

    fn waiter(&mut self) -> io::Result<&AsyncFd<UnixStream>> {
        if self.writable.is_none() {
            let duplicate = self.socket.get_ref().try_clone()?;
            self.writable = Some(register(duplicate, Interest::WRITABLE)?);
        }
        Ok(self.writable.as_ref().expect("set above"))
    }
}

fn register(socket: UnixStream, interest: Interest) -> io::Result<AsyncFd<UnixStream>> {
    // SAFETY: the `AsyncFd` owns the stream, and a std `UnixStream` keeps one open descriptor
    // for as long as it lives.
    unsafe { AsyncFd::register_with_interest(socket, interest) }.map_err(io::Error::from)
}

impl AsFd for ReadableStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.get_ref().as_fd()
    }
}

impl AsyncRead for ReadableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut ready = ready!(self.socket.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match ready.try_io(|socket| socket.get_ref().read(unfilled)) {
                Ok(Ok(read)) => {
                    if read > 0 && read < unfilled.len() {
                        // A short read emptied the socket: the next read would only return
                        // `WouldBlock`, so wait for the next event instead. Data that came
                        // after this read raised an event of its own, and tokio keeps that
                        // readiness (a newer tick) rather than clearing it.
                        ready.clear_ready();
                    }
                    buf.advance(read);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(err)) => return Poll::Ready(Err(err)),
                Err(_would_block) => continue, // readiness cleared: wait for the next event
            }
        }
    }
}

impl AsyncWrite for ReadableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            match this.socket.get_ref().write(data) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                done => return Poll::Ready(done),
            }
            // The client is not reading: wait until its buffer has room. A stale readiness
            // only costs one more `WouldBlock`, after which the wait is for a new event.
            ready!(this.waiter()?.poll_write_ready(cx))?.clear_ready();
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.socket.get_ref().shutdown(std::net::Shutdown::Write))
    }
}
