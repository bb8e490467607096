// The only door to posix_spawn, memfd, pidfd, epoll and O_PATH: the parts of glibc that
// need _GNU_SOURCE (posix_spawn_file_actions_addclosefrom_np, addchdir_np,
// memfd_create, O_PATH) or that Swift imports badly (the packed struct epoll_event),
// plus the pidfd system calls, which glibc 2.36 has no wrapper for. The header uses
// only plain types, so it can sit beside Swift's Glibc module; spawn.c does the rest.
#ifndef KILN_CSPAWN_H
#define KILN_CSPAWN_H
#include <signal.h>
#include <sys/types.h>

// Starts `path` with `argv` and `envp` in `cwd`, as the leader of a new process group:
// stdin /dev/null, stdout and stderr onto `out_fd` and `err_fd`, no other descriptor
// inherited, every signal at its default and none blocked. Returns 0 or an errno value.
int kiln_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[], const char *cwd,
               int out_fd, int err_fd);

// The same, with stdin from `in_fd` instead of /dev/null: kiln's network helper
// (kiln-remote), whose stdin and stdout are one end of a socket pair.
int kiln_spawn_piped(pid_t *pid, const char *path, char *const argv[], char *const envp[], const char *cwd,
                     int in_fd, int out_fd, int err_fd);

// Starts `path` with `argv` and `envp` in the caller's folder and process group (so a
// Ctrl-C at the terminal reaches it as it reaches the caller): stdin inherited, stdout
// and stderr onto `out_fd` and `err_fd`, no other descriptor inherited, every signal
// at its default and none blocked. For the compiler launcher. 0 or an errno value.
int kiln_spawn_attached(pid_t *pid, const char *path, char *const argv[], char *const envp[], int out_fd, int err_fd);

// As kiln_spawn, without waiting for the child to begin its program (posix_spawn
// waits): *pidfd a descriptor that becomes readable once it has exited; *status_fd
// and *handle for kiln_spawn_async_end, called once it has exited. 0 or an errno
// value (ENOSYS: not on this machine or kernel; use kiln_spawn).
int kiln_spawn_async(pid_t *pid, int *pidfd, int *status_fd, void **handle, const char *path, char *const argv[],
                     char *const envp[], const char *cwd, int out_fd, int err_fd);

// After the child of kiln_spawn_async has exited (reaped or not): 0 when it had begun
// its program, else the errno its start failed with (it then exited with 127).
// Closes `status_fd` and frees `handle`.
int kiln_spawn_async_end(int status_fd, void *handle);

// An anonymous in-memory file (closed on exec), or -1.
int kiln_memfd(const char *name);

// A descriptor that becomes readable when process `pid` exits, or -1.
int kiln_pidfd_open(pid_t pid);

// Reaps the exited process behind `pidfd`. 0 and its end in `code` (CLD_EXITED,
// CLD_KILLED, ...), `status` (exit status or signal) and the peak resident memory of it
// and the descendants it waited for in `peak_kib`, or -1 (errno set).
int kiln_pidfd_wait(int pidfd, int *code, int *status, long *peak_kib);

// waitpid with the same peak memory, for kernels without pidfd: 0 or -1.
int kiln_wait_pid(pid_t pid, int *raw, long *peak_kib);

// Open-file-description byte-range locks on one byte at `offset` (fcntl F_OFD_SETLK):
// owned by the open file, not the process, so two descriptors opened by one process
// conflict like two processes do, and the kernel drops them when the last descriptor
// closes (a kill -9 leaves nothing held). Never waits: 0 taken, -1 not (errno).
int kiln_range_lock(int fd, long long offset, int exclusive);
int kiln_range_unlock(int fd, long long offset);
// The same exclusive lock, waiting for it (F_OFD_SETLKW): 0 taken, -1 not (errno).
int kiln_range_lock_wait(int fd, long long offset);
// 1 when another open file holds a lock on the byte, 0 when none does, -1 on error.
int kiln_range_is_locked(int fd, long long offset);

// epoll over descriptors that become readable: create (close on exec), add, remove,
// and wait for up to `max` of them (their numbers in `fds`; -1 with errno on failure).
int kiln_epoll_create(void);
int kiln_epoll_add(int epoll, int fd);
int kiln_epoll_remove(int epoll, int fd);
int kiln_epoll_wait(int epoll, int *fds, int max);

// An eventfd (close on exec, non-blocking), or -1; a write of 1 to it (wakes an epoll
// waiting on it); a read that empties it.
int kiln_eventfd(void);
void kiln_eventfd_signal(int fd);
void kiln_eventfd_clear(int fd);

// Places thread `tid`: with `apart`, off the core the caller runs on (its affinity the
// caller's less that core, where the caller may run on two or more), else anywhere the
// caller may run. Returns the core left out, -3 for anywhere, -1 when nothing changed
// (`placed`: what the last call returned) or on error, -2 when the caller may run on
// one core only.
int kiln_place_thread(int tid, int apart, int placed);
// This thread's id (gettid).
int kiln_thread_id(void);
// How many cores thread `tid` (0: the caller) may run on, or -1.
int kiln_allowed_cores(int tid);

// A folder opened only to name files relative to it (fstatat), or -1.
int kiln_open_folder(const char *path);

// A word shared by every process that maps the same file: `kiln_map_shared` maps the
// first `size` bytes of `fd` (growing the file to that size if needed; 0 on failure);
// a process waits with `kiln_futex_wait` until the word is no longer `expected`, it is
// woken, or `timeout_ms` passes, and wakes every waiter with `kiln_futex_wake`.
void *kiln_map_shared(int fd, long size);
unsigned kiln_atomic_load(unsigned *word);
void kiln_atomic_increment(unsigned *word);
void kiln_atomic_decrement(unsigned *word);
void kiln_atomic_store(unsigned *word, unsigned value);
int kiln_futex_wait(unsigned *word, unsigned expected, int timeout_ms);
int kiln_futex_wake(unsigned *word);

// Ctrl-C, SIGTERM, SIGHUP and Ctrl-Z: `kiln_catch_signals` installs a handler that only
// notes the signal (all a signal handler may safely do). kiln's main thread blocks every
// asynchronous signal but while it waits in sigsuspend, so the handler runs there; on
// waking it asks `kiln_take_signal` which one came (0: none; interrupts before Ctrl-Z)
// and does the rest outside the handler. 0, or -1 (errno set).
int kiln_catch_signals(void);
int kiln_take_signal(void);

// kiln's sandbox server (sandbox.c, issue 19): `kiln --sandbox-server` calls
// `kiln_sandbox_serve` with one end of a stream socket pair as fds 0 and 1; it returns
// (the process's exit status) when the server is done.
//
// Requests (kiln -> server): a 16-byte header, then `length` bytes of payload.
//   header: u32 length, u8 kind (KILN_SANDBOX_RUN or _KILL), 3 bytes 0, u64 id (all
//           little-endian). A run's header carries two descriptors (SCM_RIGHTS): the
//           command's stdout and stderr.
//   run payload: u32 count of arguments, u32 count of environment entries, then each
//           NUL-terminated: bubblewrap-style arguments (the subset Sandbox.swift writes)
//           followed by the command's argv (its program an absolute path), then the
//           environment as NAME=value.
//   kill: no payload; the task `id` is killed (SIGKILL to its PID namespace's pid 1).
// Replies (server -> kiln): 32 bytes: u64 id, u8 kind at 8, u8 code at 12 (CLD_EXITED
// or CLD_KILLED), u8 status at 16 (exit status or signal), u16 text length at 20, i64
// peak resident KiB at 24. KILN_SANDBOX_READY once the server is up; _FAILED (then the
// text: why) when it cannot start; _ENDED once per run.
#define KILN_SANDBOX_HEADER_SIZE 16
#define KILN_SANDBOX_REPLY_SIZE 32
#define KILN_SANDBOX_RUN 1
#define KILN_SANDBOX_KILL 2
#define KILN_SANDBOX_READY 1
#define KILN_SANDBOX_FAILED 2
#define KILN_SANDBOX_ENDED 3
int kiln_sandbox_serve(void);

// A pair of connected stream sockets (closed on exec): 0, or -1.
int kiln_socketpair(int fds[2]);
// Writes all of `bytes`, the first part carrying `count` (at most 4) descriptors; never
// raises SIGPIPE. 0, or -1 (errno set).
int kiln_send_with_fds(int sock, const void *bytes, long length, const int *fds, int count);
// Reads exactly `length` bytes: 1, 0 at the end of the stream, -1 on error.
int kiln_read_fully(int fd, void *bytes, long length);
#endif
