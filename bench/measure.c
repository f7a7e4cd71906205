/* measure: run a command, report its wall time and peak RSS.
 *
 *   measure RESULTFILE CMD [ARG...]
 *
 * Forks, execs CMD (PATH lookup), waits with wait4() and writes one line to RESULTFILE:
 *   "<elapsed ns> <ru_maxrss KiB> <exit code, or 128+signal>"
 * then exits with that code. stdin/stdout/stderr are inherited.
 *
 * Why not time and wait4 from Python directly: on Linux, exec() keeps the high-water RSS of
 * the address space it replaces in the process's maxrss, so a child forked from a Python
 * interpreter reports at least the interpreter's RSS (14-20 MiB) whatever it execs. Forked
 * from this small launcher, the child starts from about 1 MiB, and ru_maxrss is the peak of
 * the command itself or of the largest descendant it waited for (Linux semantics).
 * Built by bench/run.py with: gcc -O2.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: measure RESULTFILE CMD [ARG...]\n");
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        perror(argv[2]);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) {
        perror("wait4");
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long long ns = (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    FILE *f = fopen(argv[1], "w");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    fprintf(f, "%lld %ld %d\n", ns, ru.ru_maxrss, code);
    fclose(f);
    return code;
}
