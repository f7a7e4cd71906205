/* statwalk: the floor for a no-op build.
 *
 * Walks each directory given on the command line (default "."), reads every directory with
 * readdir() and lstat()s every entry once (files and directories, via fstatat(...,
 * AT_SYMLINK_NOFOLLOW) relative to the open directory, which is lstat() without re-resolving
 * the path). Prints "<entries> entries, <files> regular files, <bytes> bytes" to stdout.
 *
 * A build tool that decides "nothing changed" from file metadata has to do at least this
 * much; one that hashes contents does more. Built by bench/run.py with: gcc -O2.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned long long n_entries, n_files, n_bytes;

static void walk(int dfd, const char *path) {
    DIR *d = fdopendir(dfd);
    if (!d) {
        perror(path);
        exit(1);
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0)))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            perror(name);
            exit(1);
        }
        n_entries++;
        if (S_ISREG(st.st_mode)) {
            n_files++;
            n_bytes += (unsigned long long)st.st_size;
        } else if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (sub < 0) {
                perror(name);
                exit(1);
            }
            walk(sub, name);
        }
    }
    closedir(d);
}

int main(int argc, char **argv) {
    int i;
    for (i = 1; i < argc || (argc == 1 && i == 1); i++) {
        const char *root = argc == 1 ? "." : argv[i];
        int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            perror(root);
            return 1;
        }
        walk(fd, root);
    }
    printf("%llu entries, %llu regular files, %llu bytes\n", n_entries, n_files, n_bytes);
    return 0;
}
