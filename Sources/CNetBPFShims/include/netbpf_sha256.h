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
