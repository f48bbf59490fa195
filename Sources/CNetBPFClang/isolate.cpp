#include "isolate.h"

#include <llvm/Support/ErrorHandling.h>

#include <cerrno>
#include <cstdint>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <new>
#include <pthread.h>
#include <thread>
#include <sys/wait.h>
#include <unistd.h>

namespace netbpf {

// Child -> parent framing: one tag byte, the payload's length (8 bytes, host order), then the
// payload (for 'R') or a message (for 'F'). With the length known the parent stops reading at
// the frame's end instead of at EOF, which only comes once the child's address space is torn
// down (exit_mm runs before exit_files): a few ms after a large compile.
static constexpr char kResult = 'R';
static constexpr char kFatal = 'F';
static constexpr size_t kHeader = 1 + sizeof(uint64_t);

static std::string frame(char tag, const std::string &payload) {
    std::string out(kHeader, '\0');
    out[0] = tag;
    uint64_t n = payload.size();
    memcpy(&out[1], &n, sizeof n);
    out += payload;
    return out;
}

static int childPipe = -1; // write end, only set in the child

static bool writeAll(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= size_t(w);
    }
    return true;
}

[[noreturn]] static void childFatal(const std::string &message) {
    std::string bytes = frame(kFatal, message);
    writeAll(childPipe, bytes.data(), bytes.size());
    _exit(70);
}

// LLVM's default handler prints to stderr and calls exit(), which would run the host's atexit
// handlers in the child.
static void onFatalError(void *, const char *reason, bool) {
    childFatal(std::string("LLVM fatal error: ") + reason);
}

struct ThreadArgs {
    const std::function<std::string()> *work;
    std::string result;
};

static void *threadMain(void *p) {
    auto *args = static_cast<ThreadArgs *>(p);
    try {
        args->result = (*args->work)();
    } catch (const std::bad_alloc &) {
        childFatal("out of memory");
    }
    return nullptr;
}

/// Closes every descriptor from `from` up, with close_range (Linux 5.9) or, where that is
/// refused (an old seccomp profile), one by one up to the descriptor limit.
static void closeFrom(int from) {
    if (close_range(unsigned(from), ~0u, 0) == 0) return;
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = from; fd < (max > 0 ? max : 1024); fd++) close(int(fd));
}

[[noreturn]] static void childMain(int wfd, const std::function<std::string()> &work) {
    // The pipe goes to 3 first: with the parent's stdio closed it could be 0, 1 or 2.
    if (wfd != 3) {
        if (dup2(wfd, 3) == 3) wfd = 3;
    }
    childPipe = wfd;
    // stdio to /dev/null, and nothing else the parent held: a copy of, say, the tcx link fd
    // `attach tc` holds while it compiles would keep that link alive if the parent died. The
    // work opens what it reads by path.
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
        for (int std : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) if (devnull != std) dup2(devnull, std);
    }
    closeFrom(4);
    // A crash should just end the child: the host's handlers (e.g. Swift's backtracer) would
    // run here otherwise.
    for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP}) signal(sig, SIG_DFL);
    llvm::install_fatal_error_handler(onFatalError, nullptr);

    // clang recurses deeply on some inputs; the caller may be on a small-stack worker thread.
    ThreadArgs args{&work, {}};
    pthread_attr_t attr;
    pthread_t thread;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 8u << 20);
    if (pthread_create(&thread, &attr, threadMain, &args) == 0)
        pthread_join(thread, nullptr);
    else
        threadMain(&args);

    std::string bytes = frame(kResult, args.result);
    _exit(writeAll(wfd, bytes.data(), bytes.size()) ? 0 : 71);
}

bool runIsolated(const std::function<std::string()> &work, std::string &payload, std::string &failure) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        failure = std::string("pipe: ") + strerror(errno);
        return false;
    }
    pid_t pid = fork();
    if (pid < 0) {
        failure = std::string("fork: ") + strerror(errno);
        close(fds[0]);
        close(fds[1]);
        return false;
    }
    if (pid == 0) {
        close(fds[0]);
        childMain(fds[1], work);
    }
    close(fds[1]);

    std::string bytes;
    char buf[1 << 16];
    for (;;) {
        if (bytes.size() >= kHeader) {
            uint64_t n;
            memcpy(&n, &bytes[1], sizeof n);
            if (bytes.size() - kHeader >= n) break; // the whole frame is here
        }
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        bytes.append(buf, size_t(n));
    }
    close(fds[0]);

    uint64_t length = 0;
    if (bytes.size() >= kHeader) memcpy(&length, &bytes[1], sizeof length);
    bool complete = bytes.size() >= kHeader && bytes.size() - kHeader == length;
    if (complete && bytes[0] == kResult) {
        // The child has nothing left to say and only exits; reap it off this thread.
        std::thread([pid] {
            int ignored;
            while (waitpid(pid, &ignored, 0) < 0 && errno == EINTR) {}
        }).detach();
        payload = bytes.substr(kHeader);
        return true;
    }

    int status = 0;
    pid_t w;
    do w = waitpid(pid, &status, 0);
    while (w < 0 && errno == EINTR);
    if (complete && bytes[0] == kFatal) {
        failure = bytes.substr(kHeader);
    } else if (w == pid && WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        failure = "clang crashed (signal " + std::to_string(sig) + ", " + strsignal(sig) + ")";
    } else if (w == pid && WIFEXITED(status)) {
        failure = "compiler process exited with status " + std::to_string(WEXITSTATUS(status));
    } else {
        failure = "compiler process ended without a result";
    }
    return false;
}

} // namespace netbpf
