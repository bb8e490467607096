#define _GNU_SOURCE
#include "cspawn.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <stdint.h>
#include <stdlib.h>
#include <sched.h>
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

// ---------------------------------------------------------------------------------
// Starting a command without waiting for it to begin its program.
//
// posix_spawn clones with CLONE_VFORK: the calling thread sleeps until the child has
// called execve, and then until it is scheduled again, often behind that very child
// on the same core (half a millisecond a command on two cores). Here the child is
// cloned with CLONE_VM (no page tables copied) but without CLONE_VFORK, on a stack of
// its own, and the caller goes on at once. The child shares the caller's memory and
// its thread's TLS until its execve, so it calls nothing of glibc: only raw system
// calls (no errno), on the copies this block holds, which the caller frees once the
// child has exited (`kiln_spawn_async_end`). A failed execve is reported through a
// close-on-exec pipe: the child writes its errno there and exits with 127.

#if defined(__x86_64__) || defined(__aarch64__)
#define KILN_HAS_ASYNC_SPAWN 1

static long raw_syscall(long n, long a, long b, long c, long d) {
#if defined(__x86_64__)
  long ret;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
  return ret;
#else
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
  return x0;
#endif
}

struct async_child {
  const char *path;
  char **argv;
  char **envp;
  const char *cwd;
  int out_fd, err_fd, status_fd;
};

struct kernel_sigaction_dfl {
  unsigned long handler, flags, restorer, mask;
};

static int async_child_main(void *arg) {
  struct async_child *c = arg;
  long rc = 0;
  // Every signal at its default (the caller blocked them all before the clone).
  struct kernel_sigaction_dfl dfl = {0, 0, 0, 0};
  for (long sig = 1; sig <= 64; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    raw_syscall(SYS_rt_sigaction, sig, (long)&dfl, 0, 8);
  }
  long null = raw_syscall(SYS_openat, AT_FDCWD, (long)"/dev/null", O_RDONLY, 0);
  if (null < 0) { rc = null; goto failed; }
  if (null != 0) {
    rc = raw_syscall(SYS_dup3, null, 0, 0, 0);
    if (rc < 0) goto failed;
  }
  rc = raw_syscall(SYS_dup3, c->out_fd, 1, 0, 0);
  if (rc < 0) goto failed;
  rc = raw_syscall(SYS_dup3, c->err_fd, 2, 0, 0);
  if (rc < 0) goto failed;
  // No other descriptor but the status pipe (close-on-exec) survives.
  if (c->status_fd > 3) {
    rc = raw_syscall(SYS_close_range, 3, c->status_fd - 1, 0, 0);
    if (rc < 0) goto failed;
  }
  rc = raw_syscall(SYS_close_range, c->status_fd + 1, ~0U, 0, 0);
  if (rc < 0) goto failed;
  rc = raw_syscall(SYS_chdir, (long)c->cwd, 0, 0, 0);
  if (rc < 0) goto failed;
  rc = raw_syscall(SYS_setpgid, 0, 0, 0, 0);
  if (rc < 0) goto failed;
  unsigned long none = 0;
  raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, (long)&none, 0, 8);
  rc = raw_syscall(SYS_execve, (long)c->path, (long)c->argv, (long)c->envp, 0);
failed:;
  int code = (int)-rc;
  raw_syscall(SYS_write, c->status_fd, (long)&code, sizeof code, 0);
  raw_syscall(SYS_exit, 127, 0, 0, 0);
  return 127;
}

static size_t strings_size(char *const list[], size_t *count) {
  size_t size = 0, n = 0;
  for (; list[n]; n++) size += strlen(list[n]) + 1;
  *count = n;
  return size;
}

static char *copy_list(char *const list[], size_t count, char **into, char *text) {
  for (size_t k = 0; k < count; k++) {
    size_t len = strlen(list[k]) + 1;
    memcpy(text, list[k], len);
    into[k] = text;
    text += len;
  }
  into[count] = 0;
  return text;
}

// Whether the kernel has what the child needs: close_range (Linux 5.9) and
// CLONE_PIDFD (5.2, which close_range implies). Asked once: close_range with its first
// descriptor past its last is EINVAL where it exists and ENOSYS where it does not.
static int async_spawn_supported(void) {
  static int supported = -1;
  int known = __atomic_load_n(&supported, __ATOMIC_RELAXED);
  if (known < 0) {
    known = raw_syscall(SYS_close_range, 1, 0, 0, 0) != -ENOSYS;
    __atomic_store_n(&supported, known, __ATOMIC_RELAXED);
  }
  return known;
}
#endif

int kiln_spawn_async(pid_t *pid, int *pidfd, int *status_fd, void **handle, const char *path, char *const argv[],
                     char *const envp[], const char *cwd, int out_fd, int err_fd) {
#ifdef KILN_HAS_ASYNC_SPAWN
  if (!async_spawn_supported()) return ENOSYS;
  const size_t stack_size = 64 * 1024;
  size_t argc, envc;
  size_t text = strings_size(argv, &argc) + strings_size(envp, &envc) + strlen(path) + strlen(cwd) + 2;
  size_t pointers = (argc + 1 + envc + 1) * sizeof(char *);
  size_t total = sizeof(struct async_child) + pointers + text + stack_size + 64;
  char *block = malloc(total);
  if (!block) return ENOMEM;
  struct async_child *c = (struct async_child *)block;
  c->argv = (char **)(block + sizeof *c);
  c->envp = c->argv + argc + 1;
  char *at = (char *)(c->envp + envc + 1);
  at = copy_list(argv, argc, c->argv, at);
  at = copy_list(envp, envc, c->envp, at);
  size_t len = strlen(path) + 1;
  memcpy(at, path, len);
  c->path = at;
  at += len;
  len = strlen(cwd) + 1;
  memcpy(at, cwd, len);
  c->cwd = at;
  at += len;
  char *stack_top = (char *)(((uintptr_t)(block + total)) & ~(uintptr_t)63);
  c->out_fd = out_fd;
  c->err_fd = err_fd;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    int e = errno;
    free(block);
    return e;
  }
  if (fds[0] < 3 || fds[1] < 3 || out_fd < 3 || err_fd < 3) {
    // A standard descriptor closed in kiln: the child's dup3s would overwrite these.
    close(fds[0]);
    close(fds[1]);
    free(block);
    return ENOSYS;
  }
  c->status_fd = fds[1];
  // Every signal blocked around the clone, glibc's own too (pthread_sigmask leaves
  // those): no handler may run in the child, on its stack, in the caller's memory.
  unsigned long all = ~0UL, old = 0;
  raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, (long)&all, (long)&old, 8);
  int fd = -1;
  pid_t child = clone(async_child_main, stack_top, CLONE_VM | CLONE_PIDFD | SIGCHLD, c, &fd);
  int e = errno;
  raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, (long)&old, 0, 8);
  close(fds[1]);
  if (child < 0) {
    close(fds[0]);
    free(block);
    return e;
  }
  // Also here, so that a Ctrl-C or a timeout that signals the group right away finds it.
  setpgid(child, child);
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  *pid = child;
  *pidfd = fd;
  *status_fd = fds[0];
  *handle = block;
  return 0;
#else
  (void)pid; (void)pidfd; (void)status_fd; (void)handle; (void)path; (void)argv; (void)envp; (void)cwd;
  (void)out_fd; (void)err_fd;
  return ENOSYS;
#endif
}

int kiln_spawn_async_end(int status_fd, void *handle) {
  int code = 0;
  ssize_t n;
  do {
    n = read(status_fd, &code, sizeof code);
  } while (n < 0 && errno == EINTR);
  close(status_fd);
  free(handle);
  return n == (ssize_t)sizeof code ? code : 0;
}

int kiln_thread_id(void) { return (int)syscall(SYS_gettid); }

int kiln_place_thread(int tid, int apart, int placed) {
  if (tid <= 0 || tid == kiln_thread_id()) return -1;
  int cpu = apart ? sched_getcpu() : -3;
  if (cpu == placed || (apart && cpu < 0)) return -1;
  cpu_set_t mask;
  if (sched_getaffinity(0, sizeof mask, &mask) != 0) return -1;
  if (CPU_COUNT(&mask) < 2) return -2;
  if (apart) {
    if (!CPU_ISSET(cpu, &mask)) return -1;
    CPU_CLR(cpu, &mask);
  }
  return sched_setaffinity(tid, sizeof mask, &mask) == 0 ? cpu : -1;
}

int kiln_allowed_cores(int tid) {
  cpu_set_t mask;
  return sched_getaffinity(tid, sizeof mask, &mask) == 0 ? CPU_COUNT(&mask) : -1;
}

int kiln_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

void kiln_eventfd_signal(int fd) {
  uint64_t one = 1;
  ssize_t rc;
  do {
    rc = write(fd, &one, sizeof one);
  } while (rc < 0 && errno == EINTR);
}

void kiln_eventfd_clear(int fd) {
  uint64_t value;
  ssize_t rc;
  do {
    rc = read(fd, &value, sizeof value);
  } while (rc < 0 && errno == EINTR);
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
