#ifndef ERRAND_CSPAWN_H
#define ERRAND_CSPAWN_H

#include <sys/types.h>

/// Creates a pipe whose ends close on exec. Returns 0, or an errno value.
int errand_pipe_cloexec(int fds[2]);

/// Spawns `path` with `argv` and `envp` in `cwd`, with stdin/stdout/stderr from the given descriptors, every signal at
/// its default disposition, an empty signal mask, and a process group of its own. Returns 0, or an errno value.
int errand_spawn(pid_t *pid, const char *path, const char *cwd, int in, int out, int err, char *const argv[], char *const envp[]);

#endif
