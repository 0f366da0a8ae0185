/* Runs commands in turn, A B C A B C ..., so drift of the machine lands on every command alike
 * (hyperfine runs each command in a block). posix_spawn and wait4: the driver adds the least
 * it can to each run, and wait4 gives the child's peak RSS and CPU time.
 *
 * usage: interleave ROUNDS WARMUP CMD_A [ARGS...] ::: CMD_B [ARGS...] [::: ...]
 * Each command runs with stdin, stdout and stderr on /dev/null; a failing run stops the driver.
 * Prints JSON: {"wall_s": [[...] per command], "cpu_s": [...], "maxrss_kib": [...],
 * "minor_faults": [...]}. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

struct sample { double wall, cpu; long maxrss, minflt; };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static struct sample run(char **argv, posix_spawn_file_actions_t *quiet) {
    double started = now();
    pid_t pid;
    if (posix_spawn(&pid, argv[0], quiet, NULL, argv, environ) != 0) {
        fprintf(stderr, "interleave: cannot start %s\n", argv[0]);
        exit(1);
    }
    int status;
    struct rusage usage;
    if (wait4(pid, &status, 0, &usage) != pid) exit(1);
    double wall = now() - started;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "interleave: %s failed (status %d)\n", argv[0], status);
        exit(1);
    }
    struct sample sample = {wall,
                            usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 +
                                usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6,
                            usage.ru_maxrss, usage.ru_minflt};
    return sample;
}

static void print_series(const char *name, struct sample *samples, int commands, int rounds, int field) {
    printf("\"%s\": [", name);
    for (int c = 0; c < commands; c++) {
        printf(c ? ", [" : "[");
        for (int r = 0; r < rounds; r++) {
            struct sample *s = &samples[r * commands + c];
            if (field >= 2) printf(r ? ", %ld" : "%ld", field == 2 ? s->maxrss : s->minflt);
            else printf(r ? ", %.9f" : "%.9f", field == 0 ? s->wall : s->cpu);
        }
        printf("]");
    }
    printf("]");
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: interleave ROUNDS WARMUP CMD [ARGS...] ::: CMD [ARGS...]\n");
        return 2;
    }
    int rounds = atoi(argv[1]), warmup = atoi(argv[2]);
    char **commands[64];
    int count = 0;
    commands[count++] = &argv[3];
    for (int n = 3; n < argc; n++) {
        if (strcmp(argv[n], ":::") == 0) {
            argv[n] = NULL;
            if (count == 64 || n + 1 >= argc) return 2;
            commands[count++] = &argv[n + 1];
        }
    }
    posix_spawn_file_actions_t quiet;
    posix_spawn_file_actions_init(&quiet);
    for (int fd = 0; fd <= 2; fd++)
        posix_spawn_file_actions_addopen(&quiet, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0);
    for (int r = 0; r < warmup; r++)
        for (int c = 0; c < count; c++) run(commands[c], &quiet);
    struct sample *samples = malloc(sizeof *samples * rounds * count);
    /* Each round starts one command later, so no command always follows the same one (the
       heaviest one's after-effects would otherwise land on its successor only). */
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < count; k++) {
            int c = (r + k) % count;
            samples[r * count + c] = run(commands[c], &quiet);
        }
    printf("{");
    print_series("wall_s", samples, count, rounds, 0);
    printf(", ");
    print_series("cpu_s", samples, count, rounds, 1);
    printf(", ");
    print_series("maxrss_kib", samples, count, rounds, 2);
    printf(", ");
    print_series("minor_faults", samples, count, rounds, 3);
    printf("}\n");
    return 0;
}
