// The only door to posix_spawn, memfd, pidfd and O_PATH: the _GNU_SOURCE parts of glibc
// that Swift's Glibc module does not show (addclosefrom_np, addchdir_np, memfd_create,
// O_PATH) and
// the pidfd system calls, which glibc 2.36 has no wrapper for.
#ifndef KILN_CSPAWN_H
#define KILN_CSPAWN_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// Starts `path` with `argv` and `envp` in `cwd`, as the leader of a new process group:
// stdin /dev/null, stdout and stderr onto `out_fd` and `err_fd`, no other descriptor
// inherited, every signal at its default and none blocked (kiln itself ignores SIGINT
// and friends, which a child would otherwise inherit). glibc spawns with
// CLONE_VM|CLONE_VFORK: no page tables are copied, whatever kiln's size.
// Returns 0 or an errno value.
static inline int kiln_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                             const char *cwd, int out_fd, int err_fd) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  sigset_t all, none;
  int rc = posix_spawn_file_actions_init(&actions);
  if (rc != 0) return rc;
  rc = posix_spawnattr_init(&attr);
  if (rc != 0) {
    posix_spawn_file_actions_destroy(&actions);
    return rc;
  }
  sigfillset(&all);
  sigemptyset(&none);
  if (rc == 0) rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  if (rc == 0) rc = posix_spawn_file_actions_addchdir_np(&actions, cwd);
  if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr, &all);
  if (rc == 0) rc = posix_spawnattr_setsigmask(&attr, &none);
  if (rc == 0) rc = posix_spawnattr_setpgroup(&attr, 0);
  if (rc == 0)
    rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
  if (rc == 0) rc = posix_spawn(pid, path, &actions, &attr, argv, envp);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  return rc;
}

// An anonymous in-memory file (closed on exec), or -1.
static inline int kiln_memfd(const char *name) { return memfd_create(name, MFD_CLOEXEC); }

// A descriptor that becomes readable when process `pid` exits, or -1.
static inline int kiln_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

// Reaps the exited process behind `pidfd`; 0 or -1 (errno set).
static inline int kiln_pidfd_wait(int pidfd, siginfo_t *info) {
  return waitid((idtype_t)3 /* P_PIDFD */, (id_t)pidfd, info, WEXITED);
}

// A folder opened only to name files relative to it (fstatat), or -1.
static inline int kiln_open_folder(const char *path) { return open(path, O_PATH | O_DIRECTORY | O_CLOEXEC); }

static inline int kiln_siginfo_code(const siginfo_t *info) { return info->si_code; }
static inline int kiln_siginfo_status(const siginfo_t *info) { return info->si_status; }
#endif
