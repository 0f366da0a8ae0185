//! The floor for `credential-process`: a process that connects to the agent's socket and exits.
//! Whatever `credential-process` costs above this is its own work.

fn main() {
    let socket = std::env::var_os("SSO_AGENT_SOCKET").expect("SSO_AGENT_SOCKET");
    std::os::unix::net::UnixStream::connect(socket).expect("the agent answers");
}
