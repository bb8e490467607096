// kiln's sandbox server (issue 19): one per build, holding the namespaces every isolated
// task shares, so that a task pays only for what is its own. See cspawn.h for the wire
// format and docs/architecture.md for the design; Sandbox.swift builds the requests.
//
// Processes (pid numbers as each one sees itself):
//   outer   `kiln --sandbox-server`, started by kiln with the socket as fds 0 and 1.
//           Unshares user (its uid and gid mapped to themselves), mount, network, IPC, UTS and PID namespaces, forks the server, waits for it.
//   server  pid 1 of the build's PID namespace (its death kills every task, nested or
//           not), dies with `outer` (PR_SET_PDEATHSIG) and when kiln's end of the socket
//           closes. Its root is a small tmpfs: the host's root is at /oldroot, a /proc of
//           the build's PID namespace at /proc, the template of every task's /dev at
//           /dev, the mount point of every task's root at /newroot.
//   task    one per request: cloned with a mount namespace (a copy of the server's) and
//           a PID namespace of its own, whose pid 1 it is, sharing the server's memory
//           until it execs (CLONE_VM | CLONE_VFORK: the server waits meanwhile): mounts
//           a tmpfs on /newroot, builds the view the request's bubblewrap-style
//           arguments describe, chroots into it, and becomes the command: setsid, no
//           capability (bounding set, ambient, permitted all empty, no new privileges),
//           stdin /dev/null, stdout and stderr the two descriptors the request carried,
//           nothing else open. The command is pid 1 of its namespace (bubblewrap's
//           --as-pid-1): when it ends, whatever it left running is killed; killing it
//           (time-out) kills everything it started. One process and one fork per task
//           fewer than an init of its own would cost.
//   reaper  closes the mount namespaces of ended tasks, which the server holds open
//           until then: tearing a mount namespace down waits for an RCU grace period
//           (milliseconds on a busy machine), which would otherwise sit between a
//           command's exit and kiln seeing it.
#define _GNU_SOURCE
#include "cspawn.h"

#include <errno.h>
#include <limits.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define OLD "/oldroot"
#define NEW "/newroot"

// ---- messages -------------------------------------------------------------------------

int kiln_socketpair(int fds[2]) { return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds); }

int kiln_send_with_fds(int sock, const void *bytes, long length, const int *fds, int count) {
  const char *p = bytes;
  long left = length;
  int first = 1;
  while (left > 0) {
    struct iovec io = {(void *)p, (size_t)left};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &io;
    msg.msg_iovlen = 1;
    char control[CMSG_SPACE(sizeof(int) * 4)];
    if (first && count > 0) {
      memset(control, 0, sizeof control);
      msg.msg_control = control;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)count);
      struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
      h->cmsg_level = SOL_SOCKET;
      h->cmsg_type = SCM_RIGHTS;
      h->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)count);
      memcpy(CMSG_DATA(h), fds, sizeof(int) * (size_t)count);
    }
    ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    first = 0;
    p += n;
    left -= n;
  }
  return 0;
}

int kiln_read_fully(int fd, void *bytes, long length) {
  char *p = bytes;
  long got = 0;
  while (got < length) {
    ssize_t n = read(fd, p + got, (size_t)(length - got));
    if (n == 0) return 0;
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    got += n;
  }
  return 1;
}

// Reads `length` bytes, taking up to `max` descriptors sent with them: 1, 0 at the end,
// -1 on error. `*count` is how many came.
static int read_with_fds(int sock, void *bytes, long length, int *fds, int max, int *count) {
  char *p = bytes;
  long got = 0;
  *count = 0;
  while (got < length) {
    struct iovec io = {p + got, (size_t)(length - got)};
    char control[CMSG_SPACE(sizeof(int) * 8)];
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &io;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n == 0) return 0;
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&msg); h; h = CMSG_NXTHDR(&msg, h)) {
      if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) continue;
      int n_fds = (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      int *in = (int *)CMSG_DATA(h);
      for (int i = 0; i < n_fds; i++) {
        if (*count < max) fds[(*count)++] = in[i];
        else close(in[i]);
      }
    }
    got += n;
  }
  return 1;
}

static void put64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static uint32_t get32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

// One reply: 32 bytes (cspawn.h).
static void reply(int sock, uint64_t id, int kind, int code, int status, long peak_kib) {
  unsigned char r[KILN_SANDBOX_REPLY_SIZE];
  memset(r, 0, sizeof r);
  put64(r, id);
  r[8] = (unsigned char)kind;
  r[12] = (unsigned char)code;
  r[16] = (unsigned char)status;
  put64(r + 24, (uint64_t)peak_kib);
  kiln_send_with_fds(sock, r, sizeof r, 0, 0);
}

static void reply_text(int sock, int kind, const char *what) {
  char text[512];
  snprintf(text, sizeof text, "%s: %s", what, strerror(errno));
  unsigned char r[KILN_SANDBOX_REPLY_SIZE];
  memset(r, 0, sizeof r);
  r[8] = (unsigned char)kind;
  uint32_t n = (uint32_t)strlen(text);
  r[20] = (unsigned char)n;
  r[21] = (unsigned char)(n >> 8);
  kiln_send_with_fds(sock, r, sizeof r, 0, 0);
  kiln_send_with_fds(sock, text, n, 0, 0);
}

// ---- the task's view ------------------------------------------------------------------

// Exits the task with bubblewrap's kind of complaint: one line on the task's stderr,
// status 1, before the command starts.
static void refuse(const char *what, const char *path) {
  dprintf(2, "kiln sandbox: %s %s: %s\n", what, path, strerror(errno));
  _exit(1);
}

// Makes every missing folder of `path` (absolute, under NEW) up to and, with `self`,
// including itself.
static void make_folders(const char *path, int self) {
  char tmp[PATH_MAX];
  if (strlen(path) >= sizeof tmp) {
    errno = ENAMETOOLONG;
    refuse("cannot make", path);
  }
  strcpy(tmp, path);
  for (char *p = tmp + strlen(NEW) + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) refuse("cannot make", tmp);
    *p = '/';
  }
  if (self && mkdir(tmp, 0755) != 0 && errno != EEXIST) refuse("cannot make", tmp);
}

static void inside(char *out, size_t size, const char *root, const char *path) {
  if ((size_t)snprintf(out, size, "%s%s", root, path) >= size) {
    errno = ENAMETOOLONG;
    refuse("path too long:", path);
  }
}

// bubblewrap's --bind / --ro-bind / --ro-bind-try of host `src` at `dst`.
static void bind_path(const char *src, const char *dst, int readonly, int optional) {
  char from[PATH_MAX], to[PATH_MAX];
  inside(from, sizeof from, OLD, src);
  inside(to, sizeof to, NEW, dst);
  struct stat st;
  if (stat(from, &st) != 0) {
    if (optional && (errno == ENOENT || errno == ENOTDIR)) return;
    refuse("cannot bind", src);
  }
  if (S_ISDIR(st.st_mode)) {
    make_folders(to, 1);
  } else {
    make_folders(to, 0);
    int fd = open(to, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0444);
    if (fd < 0 && errno != EEXIST && errno != EISDIR) refuse("cannot make", dst);
    if (fd >= 0) close(fd);
  }
  if (mount(from, to, 0, MS_BIND | MS_REC, 0) != 0) refuse("cannot bind", src);
  if (!readonly) return;
  // A remount must keep the flags the mount it copies has locked (in a user namespace).
  struct statvfs vfs;
  unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV;
  if (statvfs(to, &vfs) == 0) {
    if (vfs.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
    if (vfs.f_flag & ST_NOATIME) flags |= MS_NOATIME;
    if (vfs.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
    if (vfs.f_flag & ST_RELATIME) flags |= MS_RELATIME;
  }
  if (mount("none", to, 0, flags, 0) != 0) refuse("cannot make read-only", dst);
}

static void tmpfs(const char *dst, const char *options) {
  char to[PATH_MAX];
  inside(to, sizeof to, NEW, dst);
  make_folders(to, 1);
  if (mount("tmpfs", to, "tmpfs", MS_NOSUID | MS_NODEV, options) != 0) refuse("cannot mount a tmpfs on", dst);
}

static void drop_privileges(void) {
  for (int cap = 0; cap <= 63; cap++) prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capset, &header, data) != 0) refuse("cannot drop capabilities", "");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) refuse("cannot set no_new_privs", "");
}

// The task: pid 1 of its own PID namespace, in its own copy of the server's mounts,
// which becomes the command (its PID namespace, and whatever the command started in
// it, ends with it). `ops`: bubblewrap's arguments (the subset Sandbox.swift writes),
// then the command. Runs on the server's memory (`task_start`): no malloc, no exit
// handlers, only system calls and its stack.
static void task(char **ops, int n_ops, char **envp, int out, int err, int null_fd) {
  if (dup2(out, 1) < 0 || dup2(err, 2) < 0 || dup2(null_fd, 0) < 0) _exit(1);
  syscall(SYS_close_range, 3, ~0U, 0);
  sigset_t none;
  sigemptyset(&none);
  if (mount("tmpfs", NEW, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0) refuse("cannot mount a tmpfs on", "/");
  const char *chdir_to = "/";
  int i = 0;
  for (; i < n_ops; i++) {
    const char *op = ops[i];
    if (strncmp(op, "--", 2) != 0) break;
    int more = n_ops - i - 1;
    if (!strcmp(op, "--ro-bind") && more >= 2) { bind_path(ops[i + 1], ops[i + 2], 1, 0); i += 2; }
    else if (!strcmp(op, "--ro-bind-try") && more >= 2) { bind_path(ops[i + 1], ops[i + 2], 1, 1); i += 2; }
    else if (!strcmp(op, "--bind") && more >= 2) { bind_path(ops[i + 1], ops[i + 2], 0, 0); i += 2; }
    else if (!strcmp(op, "--symlink") && more >= 2) {
      char to[PATH_MAX];
      inside(to, sizeof to, NEW, ops[i + 2]);
      make_folders(to, 0);
      if (symlink(ops[i + 1], to) != 0 && errno != EEXIST) refuse("cannot make the symlink", ops[i + 2]);
      i += 2;
    } else if (!strcmp(op, "--dev") && more >= 1) {
      // The server's template (null, zero, full, random, urandom, tty, the fd links),
      // read-only, with a /dev/shm of the task's own.
      char to[PATH_MAX];
      inside(to, sizeof to, NEW, ops[i + 1]);
      make_folders(to, 1);
      if (mount("/dev", to, 0, MS_BIND | MS_REC, 0) != 0) refuse("cannot mount", ops[i + 1]);
      char shm[PATH_MAX];
      snprintf(shm, sizeof shm, "%s/shm", ops[i + 1]);
      tmpfs(shm, "mode=1777");
      i += 1;
    } else if (!strcmp(op, "--proc") && more >= 1) {
      char to[PATH_MAX];
      inside(to, sizeof to, NEW, ops[i + 1]);
      make_folders(to, 1);
      if (mount("proc", to, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0) != 0) refuse("cannot mount", ops[i + 1]);
      i += 1;
    } else if (!strcmp(op, "--tmpfs") && more >= 1) { tmpfs(ops[i + 1], "mode=1777"); i += 1; }
    else if (!strcmp(op, "--dir") && more >= 1) {
      char to[PATH_MAX];
      inside(to, sizeof to, NEW, ops[i + 1]);
      make_folders(to, 1);
      i += 1;
    } else if (!strcmp(op, "--chdir") && more >= 1) { chdir_to = ops[i + 1]; i += 1; }
    else if (!strcmp(op, "--die-with-parent") || !strcmp(op, "--new-session") || !strncmp(op, "--unshare-", 10)) {
      // The server's design gives these: the task dies with the server, the command
      // has a session of its own, the namespaces are the server's and the task's.
    } else {
      errno = EINVAL;
      refuse("unknown argument", op);
    }
  }
  if (i >= n_ops) {
    errno = EINVAL;
    refuse("no command", "");
  }
  char **argv = ops + i;
  if (chroot(NEW) != 0) refuse("cannot chroot to", NEW);
  if (chdir(chdir_to) != 0) refuse("cannot enter", chdir_to);
  setsid();
  drop_privileges();
  sigprocmask(SIG_SETMASK, &none, 0);
  execve(argv[0], argv, envp);
  refuse("cannot execve", argv[0]);
}

// What a task's clone needs: it shares the server's memory until it execs (CLONE_VM |
// CLONE_VFORK: no page tables copied, no page copied on write), so it only reads this
// and writes its own stack.
struct task_start {
  char **ops;
  int n_ops;
  char **envp;
  int out, err, null_fd;
};

static int task_main(void *arg) {
  struct task_start *start = arg;
  task(start->ops, start->n_ops, start->envp, start->out, start->err, start->null_fd);
  return 1;
}

// ---- the server -----------------------------------------------------------------------

struct running {
  uint64_t id;
  pid_t pid;
  int ns;   // its mount namespace, held until it is reaped (then the reaper's)
};

static void write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t ignored = write(fd, text, strlen(text));
  (void)ignored;
  close(fd);
}

static int reaper_loop(int sock) {
  for (;;) {
    unsigned char byte;
    int fds[8], count = 0;
    int rc = read_with_fds(sock, &byte, 1, fds, 8, &count);
    for (int i = 0; i < count; i++) close(fds[i]);
    if (rc <= 0) return 0;
  }
}

// The build's fixed part of every task's view, made once: the template of /dev.
static int make_dev_template(void) {
  if (mkdir("/dev", 0755) != 0) return -1;
  if (mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755") != 0) return -1;
  const char *nodes[] = {"null", "zero", "full", "random", "urandom", "tty", 0};
  for (int i = 0; nodes[i]; i++) {
    char from[64], to[64];
    snprintf(from, sizeof from, OLD "/dev/%s", nodes[i]);
    snprintf(to, sizeof to, "/dev/%s", nodes[i]);
    int fd = open(to, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    if (fd >= 0) close(fd);
    if (mount(from, to, 0, MS_BIND, 0) != 0 && nodes[i] != nodes[5]) return -1;
  }
  const char *links[][2] = {{"/proc/self/fd", "/dev/fd"}, {"/proc/self/fd/0", "/dev/stdin"},
                            {"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"},
                            {"/proc/kcore", "/dev/core"}, {0, 0}};
  for (int i = 0; links[i][0]; i++) symlink(links[i][0], links[i][1]);
  mkdir("/dev/shm", 01777);
  mkdir("/dev/pts", 0755);
  return mount("none", "/dev", 0, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, 0);
}

static void loopback_up(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  struct ifreq req;
  memset(&req, 0, sizeof req);
  strcpy(req.ifr_name, "lo");
  if (ioctl(fd, SIOCGIFFLAGS, &req) == 0) {
    req.ifr_flags |= IFF_UP | IFF_RUNNING;
    ioctl(fd, SIOCSIFFLAGS, &req);
  }
  close(fd);
}

// pid 1 of the build's namespaces. The socket is fd 0.
static int serve(void) {
  int sock = 0;
  if (mount(0, "/", 0, MS_REC | MS_PRIVATE, 0) != 0) { reply_text(sock, KILN_SANDBOX_FAILED, "cannot make mounts private"); return 1; }
  // The server's root: a tmpfs on /tmp made the root, the host's below it (bubblewrap's way).
  if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0) { reply_text(sock, KILN_SANDBOX_FAILED, "cannot mount a tmpfs"); return 1; }
  if (mkdir("/tmp" OLD, 0755) != 0 || mkdir("/tmp" NEW, 0755) != 0 || mkdir("/tmp/proc", 0755) != 0) { reply_text(sock, KILN_SANDBOX_FAILED, "cannot make folders"); return 1; }
  if (syscall(SYS_pivot_root, "/tmp", "/tmp" OLD) != 0) { reply_text(sock, KILN_SANDBOX_FAILED, "cannot pivot_root"); return 1; }
  if (chdir("/") != 0) return 1;
  if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0) != 0) { reply_text(sock, KILN_SANDBOX_FAILED, "cannot mount /proc"); return 1; }
  if (make_dev_template() != 0) { reply_text(sock, KILN_SANDBOX_FAILED, "cannot make /dev"); return 1; }
  loopback_up();
  int null_fd = open(OLD "/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) { reply_text(sock, KILN_SANDBOX_FAILED, "cannot open /dev/null"); return 1; }

  int reaper_pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, reaper_pair) != 0) return 1;
  pid_t reaper = fork();
  if (reaper < 0) { reply_text(sock, KILN_SANDBOX_FAILED, "cannot fork"); return 1; }
  if (reaper == 0) {
    close(reaper_pair[0]);
    close(sock);
    close(1);
    _exit(reaper_loop(reaper_pair[1]));
  }
  close(reaper_pair[1]);
  int to_reaper = reaper_pair[0];

  sigset_t child;
  sigemptyset(&child);
  sigaddset(&child, SIGCHLD);
  sigprocmask(SIG_BLOCK, &child, 0);
  int sigfd = signalfd(-1, &child, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigfd < 0) { reply_text(sock, KILN_SANDBOX_FAILED, "cannot make a signalfd"); return 1; }

  // One stack for every task's clone: CLONE_VFORK has the server wait until it execs.
  enum { TASK_STACK = 512 * 1024 };
  char *task_stack = malloc(TASK_STACK);
  if (!task_stack) { reply_text(sock, KILN_SANDBOX_FAILED, "cannot allocate"); return 1; }
  reply(sock, 0, KILN_SANDBOX_READY, 0, 0, 0);

  struct running *tasks = 0;
  int n_tasks = 0, cap_tasks = 0;
  for (;;) {
    struct pollfd fds[2] = {{sock, POLLIN, 0}, {sigfd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (fds[1].revents) {
      struct signalfd_siginfo info;
      while (read(sigfd, &info, sizeof info) > 0) {}
      for (;;) {
        int status;
        struct rusage usage;
        memset(&usage, 0, sizeof usage);
        pid_t pid = wait4(-1, &status, WNOHANG, &usage);
        if (pid <= 0) break;
        if (pid == reaper) return 1;
        for (int t = 0; t < n_tasks; t++) {
          if (tasks[t].pid != pid) continue;
          int code = WIFEXITED(status) ? CLD_EXITED : CLD_KILLED;
          int value = WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status);
          reply(sock, tasks[t].id, KILN_SANDBOX_ENDED, code, value, usage.ru_maxrss);
          if (tasks[t].ns >= 0) {
            unsigned char byte = 0;
            kiln_send_with_fds(to_reaper, &byte, 1, &tasks[t].ns, 1);
            close(tasks[t].ns);
          }
          tasks[t] = tasks[--n_tasks];
          break;
        }
      }
    }
    if (!fds[0].revents) continue;
    unsigned char header[KILN_SANDBOX_HEADER_SIZE];
    int passed[4], n_passed = 0;
    int rc = read_with_fds(sock, header, sizeof header, passed, 4, &n_passed);
    if (rc <= 0) return 0;   // kiln is gone: every task dies with this process
    uint32_t length = get32(header);
    int kind = header[4];
    uint64_t id = get64(header + 8);
    if (kind == KILN_SANDBOX_KILL) {
      for (int t = 0; t < n_tasks; t++)
        if (tasks[t].id == id) kill(tasks[t].pid, SIGKILL);
      for (int f = 0; f < n_passed; f++) close(passed[f]);
      continue;
    }
    char *payload = malloc(length + 1);
    if (!payload || kiln_read_fully(sock, payload, length) != 1) return 1;
    payload[length] = 0;
    if (kind != KILN_SANDBOX_RUN || n_passed != 2) {
      if (n_passed >= 2) dprintf(passed[1], "kiln sandbox: a request it cannot read\n");
      for (int f = 0; f < n_passed; f++) close(passed[f]);
      free(payload);
      reply(sock, id, KILN_SANDBOX_ENDED, CLD_EXITED, 1, 0);
      continue;
    }
    // payload: u32 count of arguments, u32 count of environment entries, then the
    // strings, each NUL-terminated.
    uint32_t n_args = get32((unsigned char *)payload), n_env = get32((unsigned char *)payload + 4);
    char **args = calloc((size_t)n_args + 1, sizeof(char *));
    char **env = calloc((size_t)n_env + 1, sizeof(char *));
    char *p = payload + 8, *end = payload + length;
    int ok = args && env && n_args < length && n_env < length;
    for (uint32_t a = 0; ok && a < n_args + n_env; a++) {
      if (p >= end) { ok = 0; break; }
      if (a < n_args) args[a] = p; else env[a - n_args] = p;
      p += strlen(p) + 1;
    }
    pid_t pid = -1;
    if (ok) {
      struct task_start start = {args, (int)n_args, env, passed[0], passed[1], null_fd};
      pid = clone(task_main, task_stack + TASK_STACK, CLONE_VM | CLONE_VFORK | CLONE_NEWNS | CLONE_NEWPID | SIGCHLD,
                  &start);
    }
    // The same kind of line as the task's own refusals: a setup failure, not the command's.
    if (!ok) dprintf(passed[1], "kiln sandbox: a request it cannot read\n");
    else if (pid < 0) dprintf(passed[1], "kiln sandbox: cannot clone the task: %s\n", strerror(errno));
    close(passed[0]);
    close(passed[1]);
    free(args);
    free(env);
    free(payload);
    if (pid < 0) {
      reply(sock, id, KILN_SANDBOX_ENDED, CLD_EXITED, 1, 0);
      continue;
    }
    char ns_path[64];
    snprintf(ns_path, sizeof ns_path, "/proc/%d/ns/mnt", (int)pid);
    if (n_tasks == cap_tasks) {
      cap_tasks = cap_tasks ? cap_tasks * 2 : 16;
      tasks = realloc(tasks, sizeof *tasks * (size_t)cap_tasks);
      if (!tasks) return 1;
    }
    tasks[n_tasks++] = (struct running){id, pid, open(ns_path, O_RDONLY | O_CLOEXEC)};
  }
}

int kiln_sandbox_serve(void) {
  uid_t uid = getuid();
  gid_t gid = getgid();
  int flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID;
  if (unshare(flags) != 0) {
    reply_text(0, KILN_SANDBOX_FAILED, "cannot make namespaces (unshare)");
    return 1;
  }
  char map[64];
  snprintf(map, sizeof map, "%u %u 1", uid, uid);
  write_file("/proc/self/uid_map", map);
  write_file("/proc/self/setgroups", "deny");
  snprintf(map, sizeof map, "%u %u 1", gid, gid);
  write_file("/proc/self/gid_map", map);
  pid_t server = fork();
  if (server < 0) {
    reply_text(0, KILN_SANDBOX_FAILED, "cannot fork");
    return 1;
  }
  if (server == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    _exit(serve());
  }
  // Only the server holds the socket: kiln sees its end when the server ends.
  close(0);
  close(1);
  int status;
  while (waitpid(server, &status, 0) < 0 && errno == EINTR) {}
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
