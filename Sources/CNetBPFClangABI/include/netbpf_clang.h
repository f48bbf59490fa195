// netbpf's in-process BPF C compiler: clang 14 / LLVM 14 behind a plain C interface.
//
// Built as its own shared library so that only commands which compile map LLVM: the Swift
// side dlopen()s it and looks the functions up with dlsym (see the *_fn typedefs below).
// Nothing here prints to stdout or stderr; everything clang says comes back as nb_diag values.
#ifndef NETBPF_CLANG_H
#define NETBPF_CLANG_H

#include <stddef.h>
#include <sys/stat.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Bumped whenever a struct layout or a function signature below changes.
#define NB_CLANG_ABI_VERSION 2

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
    NB_PCH_NONE = 0,     ///< no pch_path was given
    NB_PCH_USED = 1,     ///< the PCH was loaded
    NB_PCH_REJECTED = 2, ///< the PCH was stale or did not match; compiled without it (a note in
                         ///< diags says why): rebuild it with nb_clang_build_pch
};

/// A file the compile looked at (see nb_compile_result.inputs).
typedef struct nb_input {
    const char *path;     ///< as clang spelled it (search directory + name)
    const char *identity; ///< nb_file_identity of the file clang found there; NULL when clang
                          ///< looked for it and it did not exist; "changed" when the file
                          ///< changed while the compile ran
} nb_input;

/// Output of one call. Zero-initialise before the call; release with nb_clang_free_result.
typedef struct nb_compile_result {
    unsigned char *object; ///< BPF ELF object (.BTF/.BTF.ext included); NULL on failure or for a PCH
    size_t object_size;
    nb_diag *diags;        ///< in the order clang emitted them
    size_t ndiags;
    char *error;           ///< one-line summary when the call failed, else NULL
    int pch_status;        ///< enum nb_pch_status (nb_clang_compile only)
    nb_input *inputs;      ///< every file the compile read and every path it looked for and did
    size_t ninputs;        ///< not find, in the order clang first looked, without the source
                           ///< itself and without directories that exist
} nb_compile_result;

/// Compiles BPF C held in memory to a BPF ELF object in memory, like
/// `clang -target bpf -O2 -g -D__TARGET_ARCH_<arch> -c`.
///
/// - file_name: path used for diagnostics and as the base of `#include "..."` lookups (pass the
///   absolute path of the source file; it need not exist on disk).
/// - args: extra clang *driver* arguments (-I, -D, -W..., -O1, -mcpu=v3 ...) added after the
///   defaults, so a later -O or -D wins. -mllvm options apply to this compile only.
/// - pch_path: NULL, or a PCH built by nb_clang_build_pch with the same args.
/// Returns 0 on success, 1 when clang reported errors (see out->diags; unknown arguments are
/// reported that way too), -1 on an internal failure (LLVM fatal error, crash, arguments that
/// are not one compile job; out->error says what and a fatal diag repeats it).
/// Each call forks the calling process and compiles in the child (LLVM 14's BPF backend keeps
/// per-process state that breaks a second CO-RE compile), so crashes, LLVM fatal errors and
/// LLVM output never reach the caller. Safe to call repeatedly and from several threads.
int nb_clang_compile(const char *source, size_t source_len, const char *file_name,
                     const char *const *args, size_t nargs, const char *pch_path,
                     nb_compile_result *out);

/// Precompiles header_path (e.g. one that includes vmlinux.h) into out_pch_path (mode 0644),
/// written through a temporary file beside it that is renamed into place once complete, or
/// removed when the build fails. Use the same args as the compiles that will use it. Same
/// return values as nb_clang_compile.
int nb_clang_build_pch(const char *header_path, const char *const *args, size_t nargs,
                       const char *out_pch_path, nb_compile_result *out);

/// The longest nb_file_identity text, with its NUL.
#define NB_FILE_IDENTITY_MAX 128

/// What identifies a file's contents to the compile cache without reading it, as text:
/// "size:mtime:ctime:inode:device" (times in ns). ctime is there because tools that keep mtime
/// (`cp -p`, `rsync -a`, `touch -d`) cannot set it back. Defined here, in the part of the
/// library the Swift side links, so the compile and the cache lookup spell it the same way.
void nb_file_identity(const struct stat *st, char *buf, size_t len);

/// Frees everything a call put in *r and zeroes it. NULL and zeroed results are fine.
void nb_clang_free_result(nb_compile_result *r);

/// The compiler's identity for cache keys, e.g. "Debian clang version 14.0.6 (LLVM 14.0.6)".
const char *nb_clang_version(void);

/// NB_CLANG_ABI_VERSION of the loaded library, to check after dlopen.
int nb_clang_abi_version(void);

/// Resource directory in use (builtin headers such as stddef.h live in <dir>/include).
const char *nb_clang_resource_dir(void);

// Function-pointer types for dlsym.
typedef int (*nb_clang_compile_fn)(const char *, size_t, const char *, const char *const *,
                                   size_t, const char *, nb_compile_result *);
typedef int (*nb_clang_build_pch_fn)(const char *, const char *const *, size_t, const char *,
                                     nb_compile_result *);
typedef void (*nb_clang_free_result_fn)(nb_compile_result *);
typedef const char *(*nb_clang_version_fn)(void);
typedef int (*nb_clang_abi_version_fn)(void);
typedef const char *(*nb_clang_resource_dir_fn)(void);

#ifdef __cplusplus
}
#endif

#endif // NETBPF_CLANG_H
