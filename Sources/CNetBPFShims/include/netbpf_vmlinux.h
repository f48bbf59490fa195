// vmlinux.h generation from kernel BTF (libbpf's btf_dump, no bpftool) and a stable identity
// of that BTF for compile-cache keys.
#pragma once
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Default BTF of the running kernel.
#define NB_VMLINUX_BTF_PATH "/sys/kernel/btf/vmlinux"

/// Writes C declarations for every type in the BTF at btf_path (NULL: the running kernel's)
/// to out_path, like `bpftool btf dump file X format c`: guarded by __VMLINUX_H__ and with
/// preserve_access_index on all records (define BPF_NO_PRESERVE_ACCESS_INDEX to opt out).
/// A first-line comment records the BTF's nb_btf_checksum. The file is written to a temporary
/// in the same directory and renamed into place. Returns 0 or -errno; on failure `err`
/// (errlen bytes, may be NULL) gets a message.
int nb_write_vmlinux_h(const char *btf_path, const char *out_path, char *err, size_t errlen);

/// SHA-256 of the BTF file's bytes (NULL: the running kernel's) as 64 lowercase hex digits and
/// a NUL; len must be at least 65. Returns 0 or -errno.
int nb_btf_checksum(const char *btf_path, char *out_hex, size_t len);

#ifdef __cplusplus
}
#endif
