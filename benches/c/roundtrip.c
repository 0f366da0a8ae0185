/* The P1 round-trip floor: connect to $SSO_AGENT_SOCKET, send one request frame, read the whole
 * answer, check that it is credentials, and exit. The frame is FRAME (a C string literal the
 * bench passes with -DFRAME=..., produced by the agent's own encoder). Built `cc -O2 -static`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char frame[] = FRAME;

static int read_all(int fd, char *buffer, size_t length) {
    while (length > 0) {
        ssize_t got = read(fd, buffer, length);
        if (got <= 0) return -1;
        buffer += got;
        length -= (size_t)got;
    }
    return 0;
}

int main(void) {
    const char *path = getenv("SSO_AGENT_SOCKET");
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (!path || strlen(path) >= sizeof address.sun_path) return 2;
    strcpy(address.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) return 1;
    uint32_t length = (uint32_t)(sizeof frame - 1);
    unsigned char request[4 + sizeof frame];
    request[0] = length >> 24; request[1] = length >> 16; request[2] = length >> 8; request[3] = length;
    memcpy(request + 4, frame, length);
    if (write(fd, request, 4 + length) != (ssize_t)(4 + length)) return 1;
    unsigned char header[4];
    if (read_all(fd, (char *)header, 4) != 0) return 1;
    uint32_t answer_length = (uint32_t)header[0] << 24 | header[1] << 16 | header[2] << 8 | header[3];
    static char answer[1 << 18];
    if (answer_length > sizeof answer || read_all(fd, answer, answer_length) != 0) return 1;
    static const char expected[] = "{\"type\":\"credentials\"";
    return answer_length >= sizeof expected - 1 && memcmp(answer, expected, sizeof expected - 1) == 0 ? 0 : 3;
}
