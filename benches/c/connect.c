/* The P1 floor: connect to the agent's socket ($SSO_AGENT_SOCKET) and exit. Built by the bench
 * with `cc -O2 -static`: no dynamic loader, no language runtime, so whatever the helper costs
 * above this is the helper's own. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

int main(void) {
    const char *path = getenv("SSO_AGENT_SOCKET");
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (!path || strlen(path) >= sizeof address.sun_path) return 2;
    strcpy(address.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    return connect(fd, (struct sockaddr *)&address, sizeof address) == 0 ? 0 : 1;
}
