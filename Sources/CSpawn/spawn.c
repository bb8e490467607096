#define _GNU_SOURCE
#include "cspawn.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/epoll.h>
#include <time.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// The one posix_spawn of kiln. `detached`: stdin /dev/null, the folder `cwd`, a process
// group of its own (a task of the engine); else stdin, folder and group are the
// caller's (the compiler launcher, whose child must get the terminal's Ctrl-C).
// `in_fd` >= 0 replaces a detached child's /dev/null stdin.
static int spawn_with(pid_t *pid, const char *path, char *const argv[], char *const envp[], const char *cwd,
                      int in_fd, int out_fd, int err_fd, int detached) {
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
  short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
  if (in_fd >= 0 && rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, in_fd, 0);
  else if (detached && rc == 0) rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  if (detached && rc == 0) rc = posix_spawn_file_actions_addchdir_np(&actions, cwd);
  // kiln ignores SIGINT, SIGTERM and SIGHUP itself; a child must not inherit that.
  if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr, &all);
  if (rc == 0) rc = posix_spawnattr_setsigmask(&attr, &none);
  if (detached && rc == 0) {
    rc = posix_spawnattr_setpgroup(&attr, 0);
    flags |= POSIX_SPAWN_SETPGROUP;
  }
  if (rc == 0) rc = posix_spawnattr_setflags(&attr, flags);
  // glibc spawns with CLONE_VM|CLONE_VFORK: no page tables are copied, whatever kiln's size.
  if (rc == 0) rc = posix_spawn(pid, path, &actions, &attr, argv, envp);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  return rc;
}

int kiln_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[], const char *cwd,
               int out_fd, int err_fd) {
  return spawn_with(pid, path, argv, envp, cwd, -1, out_fd, err_fd, 1);
}

int kiln_spawn_piped(pid_t *pid, const char *path, char *const argv[], char *const envp[], const char *cwd,
                     int in_fd, int out_fd, int err_fd) {
  return spawn_with(pid, path, argv, envp, cwd, in_fd, out_fd, err_fd, 1);
}

int kiln_spawn_attached(pid_t *pid, const char *path, char *const argv[], char *const envp[], int out_fd, int err_fd) {
  return spawn_with(pid, path, argv, envp, NULL, -1, out_fd, err_fd, 0);
}

int kiln_memfd(const char *name) { return memfd_create(name, MFD_CLOEXEC); }

int kiln_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int kiln_pidfd_wait(int pidfd, int *code, int *status, long *peak_kib) {
  siginfo_t info;
  struct rusage usage;
  long rc;
  memset(&usage, 0, sizeof usage);
  // The raw system call: glibc's waitid has no rusage argument.
  do {
    rc = syscall(SYS_waitid, 3 /* P_PIDFD */, pidfd, &info, WEXITED, &usage);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return -1;
  *code = info.si_code;
  *status = info.si_status;
  *peak_kib = usage.ru_maxrss;
  return 0;
}

int kiln_wait_pid(pid_t pid, int *raw, long *peak_kib) {
  struct rusage usage;
  pid_t rc;
  memset(&usage, 0, sizeof usage);
  do {
    rc = wait4(pid, raw, 0, &usage);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return -1;
  *peak_kib = usage.ru_maxrss;
  return 0;
}

// One fcntl on the byte at `offset`, retried when a signal interrupts it.
static int range_fcntl(int fd, long long offset, short type, int command) {
  struct flock lock;
  memset(&lock, 0, sizeof lock);
  lock.l_type = type;
  lock.l_whence = SEEK_SET;
  lock.l_start = offset;
  lock.l_len = 1;
  int rc;
  do {
    rc = fcntl(fd, command, &lock);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return -1;
  return command == F_OFD_GETLK ? (lock.l_type == F_UNLCK ? 0 : 1) : 0;
}

int kiln_range_lock_wait(int fd, long long offset) { return range_fcntl(fd, offset, F_WRLCK, F_OFD_SETLKW); }

int kiln_range_lock(int fd, long long offset, int exclusive) {
  return range_fcntl(fd, offset, exclusive ? F_WRLCK : F_RDLCK, F_OFD_SETLK);
}

int kiln_range_unlock(int fd, long long offset) { return range_fcntl(fd, offset, F_UNLCK, F_OFD_SETLK); }

int kiln_range_is_locked(int fd, long long offset) { return range_fcntl(fd, offset, F_WRLCK, F_OFD_GETLK); }

int kiln_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int kiln_epoll_add(int epoll, int fd) {
  struct epoll_event event = {.events = EPOLLIN, .data = {.fd = fd}};
  return epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
}

int kiln_epoll_remove(int epoll, int fd) { return epoll_ctl(epoll, EPOLL_CTL_DEL, fd, 0); }

int kiln_epoll_wait(int epoll, int *fds, int max) {
  struct epoll_event events[64];
  if (max > 64) max = 64;
  int n = epoll_wait(epoll, events, max, -1);
  for (int i = 0; i < n; i++) fds[i] = events[i].data.fd;
  return n;
}

int kiln_open_folder(const char *path) { return open(path, O_PATH | O_DIRECTORY | O_CLOEXEC); }

void *kiln_map_shared(int fd, long size) {
  struct stat st;
  if (fstat(fd, &st) != 0) return 0;
  if (st.st_size < size && ftruncate(fd, size) != 0) return 0;
  void *p = mmap(0, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  return p == MAP_FAILED ? 0 : p;
}

unsigned kiln_atomic_load(unsigned *word) { return __atomic_load_n(word, __ATOMIC_SEQ_CST); }

void kiln_atomic_increment(unsigned *word) { __atomic_add_fetch(word, 1, __ATOMIC_SEQ_CST); }

void kiln_atomic_decrement(unsigned *word) { __atomic_sub_fetch(word, 1, __ATOMIC_SEQ_CST); }

void kiln_atomic_store(unsigned *word, unsigned value) { __atomic_store_n(word, value, __ATOMIC_SEQ_CST); }

int kiln_futex_wait(unsigned *word, unsigned expected, int timeout_ms) {
  struct timespec limit = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
  return (int)syscall(SYS_futex, word, FUTEX_WAIT, expected, &limit, 0, 0);
}

int kiln_futex_wake(unsigned *word) { return (int)syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, 0, 0, 0); }

// Set by the handler, read and cleared by `kiln_take_signal` on the thread that waited
// in sigsuspend (the only one with these signals unblocked).
static volatile sig_atomic_t caught_interrupt = 0;
static volatile sig_atomic_t caught_stop = 0;

static void on_signal(int signo) {
  if (signo == SIGTSTP) {
    caught_stop = 1;
  } else {
    caught_interrupt = signo;
  }
}

int kiln_catch_signals(void) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_signal;
  action.sa_flags = SA_RESTART;
  sigfillset(&action.sa_mask);
  int signals[] = {SIGINT, SIGTERM, SIGHUP, SIGTSTP};
  for (unsigned k = 0; k < sizeof signals / sizeof signals[0]; k++) {
    if (sigaction(signals[k], &action, 0) != 0) return -1;
  }
  return 0;
}

int kiln_take_signal(void) {
  if (caught_interrupt) {
    int signo = caught_interrupt;
    caught_interrupt = 0;
    return signo;
  }
  if (caught_stop) {
    caught_stop = 0;
    return SIGTSTP;
  }
  return 0;
}
