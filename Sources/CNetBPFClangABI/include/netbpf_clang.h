// netbpf's BPF C compiler: clang 14 / LLVM 14 in a helper executable, netbpf-cc, one process
// per compile.
//
// Why a process per compile: LLVM 14's BPF CO-RE pass (BPFAbstractMemberAccess) keeps the
// GlobalVariable it makes for each relocation in a process-global map it never clears, so a
// second CO-RE compile in one process reuses a pointer into the first, freed, module and
// crashes; and an LLVM fatal error ends the process it happens in. netbpf itself never maps
// LLVM: it starts netbpf-cc with posix_spawn, hands it the source, and reads back the object,
// the diagnostics and the files the compile read.
//
// The protocol, both halves of which are in this header:
//   netbpf-cc compile FILE PCH [ARG...]   compiles the source read from stdin to the end;
//                                          FILE names it (diagnostics, #include "..."), PCH is
//                                          a precompiled header to use or "" for none
//   netbpf-cc pch HEADER OUT [ARG...]     precompiles HEADER into OUT
// ARGs are clang driver arguments. The helper writes one nb_compile_result to stdout
// (nb_result_write) and exits; nothing else is written there. The client half (nb_cc_*, in
// abi.c) is linked into netbpf; the server half (nb_cc_main) into netbpf-cc only.
#ifndef NETBPF_CLANG_H
#define NETBPF_CLANG_H

#include <stddef.h>
#include <sys/stat.h>

#ifdef __cplusplus
extern "C" {
#endif

enum nb_diag_severity {
    NB_DIAG_NOTE = 0,
    NB_DIAG_WARNING = 1,
    NB_DIAG_ERROR = 2,
    NB_DIAG_FATAL = 3,
};

/// One clang diagnostic. All strings are owned by the enclosing nb_compile_result.
typedef struct nb_diag {
    int severity;            ///< enum nb_diag_severity
    const char *file;        ///< NULL when the diagnostic has no location (bad argument, backend)
    unsigned line, column;   ///< 1-based; 0 when file is NULL. column counts bytes.
    const char *message;     ///< without "error:" prefix and without the file:line:col
    const char *source_line; ///< text of the line at file:line (no newline), NULL if unknown
    const char *flag;        ///< controlling warning flag such as "-Wunused-variable", or NULL
} nb_diag;

enum nb_pch_status {
    NB_PCH_NONE = 0,     ///< no PCH was given
    NB_PCH_USED = 1,     ///< the PCH was loaded
    NB_PCH_REJECTED = 2, ///< the PCH was stale or did not match; nothing was compiled (`error`
                         ///< says why): remove it and compile without it
};

/// A file the compile looked at (see nb_compile_result.inputs).
typedef struct nb_input {
    const char *path;     ///< as clang spelled it (search directory + name)
    const char *identity; ///< nb_file_identity of the file clang found there; NULL when clang
                          ///< looked for it and it did not exist; "changed" when the file
                          ///< changed while the compile ran
} nb_input;

/// Output of one compile or PCH build. Zero-initialise before the call; release with
/// nb_free_result. Every pointer in it is malloc'd.
typedef struct nb_compile_result {
    int status;            ///< 0 success, 1 clang reported errors (see diags), -1 the compiler
                           ///< failed: crash, LLVM fatal error, bad arguments (see error)
    unsigned char *object; ///< BPF ELF object (.BTF/.BTF.ext included); NULL on failure or for a PCH
    size_t object_size;
    nb_diag *diags;        ///< in the order clang emitted them
    size_t ndiags;
    char *error;           ///< one-line summary when status != 0, else NULL
    int pch_status;        ///< enum nb_pch_status
    nb_input *inputs;      ///< every file the compile read and every path it looked for and did
    size_t ninputs;        ///< not find, in the order clang first looked, without the source
                           ///< itself and without directories that exist
} nb_compile_result;

/// Compiles BPF C held in memory to a BPF ELF object in memory, like
/// `clang -target bpf -O2 -g -D__TARGET_ARCH_<arch> -c`, in a new netbpf-cc process.
///
/// - helper: path of netbpf-cc; it is run with an empty environment, stdin the source, stdout
///   a pipe, stderr /dev/null and no other descriptor of the caller.
/// - file_name: path used for diagnostics and as the base of `#include "..."` lookups (pass the
///   absolute path of the source file; it need not exist on disk).
/// - args: clang driver arguments (-I, -D, -W..., -O1, -mcpu=v3 ...) added after the defaults,
///   so a later -O or -D wins.
/// - pch_path: NULL, or a PCH built by nb_cc_build_pch with the same args.
/// Returns out->status. A crash or an LLVM fatal error of the helper is status -1 with a
/// one-line error (diags holds what clang said before it, if anything); the caller is not
/// affected.
int nb_cc_compile(const char *helper, const char *source, size_t source_len, const char *file_name,
                  const char *const *args, size_t nargs, const char *pch_path, nb_compile_result *out);

/// Precompiles header_path into out_pch_path (mode 0644) in a new netbpf-cc process. The PCH
/// appears there complete or not at all: it is written to an unnamed file (O_TMPFILE) in the
/// same directory and linked into place at the end, so a build that fails in any way (a full
/// disk, a crash, SIGKILL) leaves nothing behind, and the caller need not wait for it.
/// Returns out->status.
int nb_cc_build_pch(const char *helper, const char *header_path, const char *const *args, size_t nargs,
                    const char *out_pch_path, nb_compile_result *out);

/// Frees everything a call put in *r and zeroes it. NULL and zeroed results are fine.
void nb_free_result(nb_compile_result *r);

/// The longest nb_file_identity text, with its NUL.
#define NB_FILE_IDENTITY_MAX 128

/// What identifies a file's contents to the compile cache without reading it, as text:
/// "size:mtime:ctime:inode:device" (times in ns). ctime is there because tools that keep mtime
/// (`cp -p`, `rsync -a`, `touch -d`) cannot set it back. Used by the compile (which records
/// it) and by the cache lookup (which compares it), so both spell it the same way.
void nb_file_identity(const struct stat *st, char *buf, size_t len);

/// The wire format of a result, for the two halves of the protocol: writes *r to fd; reads
/// one from fd to its end into *out (0, or -1 when what came is cut short or malformed).
int nb_result_write(int fd, const nb_compile_result *r);
int nb_result_read(int fd, nb_compile_result *out);

/// The helper's main (netbpf-cc), implemented in CNetBPFClang.
int nb_cc_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif // NETBPF_CLANG_H
