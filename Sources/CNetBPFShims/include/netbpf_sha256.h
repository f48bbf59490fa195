// Minimal SHA-256 (FIPS 180-4) for content identities (compile-cache keys, BTF checksums).
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct nb_sha256 {
    uint32_t h[8];
    uint64_t length; // bytes hashed so far
    unsigned char block[64];
    size_t fill;
} nb_sha256;

void nb_sha256_init(nb_sha256 *s);
void nb_sha256_update(nb_sha256 *s, const void *data, size_t len);
/// Writes 64 lowercase hex digits and a NUL to hex.
void nb_sha256_final_hex(nb_sha256 *s, char hex[65]);

/// CRC-32 (zlib's crc32) of `len` bytes: the integrity check of compile-cache entries, which
/// must notice truncation and corruption, not resist an attacker, and must be cheap on the
/// 0.6 MB objects that CO-RE programs on vmlinux.h make (SHA-256 there cost ~3 ms a hit).
uint32_t nb_crc32(const void *data, size_t len);
