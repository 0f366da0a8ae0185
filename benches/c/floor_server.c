/* The P2 server floor: one thread, epoll, and for every request frame read on a connection one
 * write of a fixed answer frame. No parsing, no lookup, no allocation: the least a server on this
 * socket can do per request. The bench runs the same load generator against it and the agent and
 * compares their CPU time per request.
 *
 * usage: floor_server SOCKET ANSWER_BYTES   (answers `{"type":"credentials"` padded to the size) */
#define _GNU_SOURCE /* accept4 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define BUFFER 4096

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    size_t answer_length = strtoul(argv[2], NULL, 10);
    if (answer_length < 32 || answer_length > 65536) return 2;
    unsigned char *answer = malloc(4 + answer_length);
    answer[0] = answer_length >> 24; answer[1] = answer_length >> 16; answer[2] = answer_length >> 8; answer[3] = answer_length;
    memset(answer + 4, ' ', answer_length);
    memcpy(answer + 4, "{\"type\":\"credentials\"", 21);

    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (strlen(argv[1]) >= sizeof address.sun_path) return 2;
    strcpy(address.sun_path, argv[1]);
    unlink(argv[1]);
    int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0 || listen(listener, 1024) != 0) {
        perror("floor_server");
        return 1;
    }
    int epoll = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event event = {.events = EPOLLIN, .data.fd = listener};
    epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &event);
    printf("listening\n");
    fflush(stdout);
    struct epoll_event events[MAX_EVENTS];
    static unsigned char buffer[BUFFER];
    for (;;) {
        int ready = epoll_wait(epoll, events, MAX_EVENTS, -1);
        for (int n = 0; n < ready; n++) {
            int fd = events[n].data.fd;
            if (fd == listener) {
                int connection;
                while ((connection = accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
                    struct epoll_event add = {.events = EPOLLIN, .data.fd = connection};
                    epoll_ctl(epoll, EPOLL_CTL_ADD, connection, &add);
                }
                continue;
            }
            /* The load generator sends one whole frame and waits for its answer: one read takes
             * it, one write answers it. */
            ssize_t got = read(fd, buffer, sizeof buffer);
            if (got <= 0) {
                close(fd);
                continue;
            }
            if (write(fd, answer, 4 + answer_length) < 0) close(fd);
        }
    }
}
