#pragma once
#include <stddef.h>
#include <stdint.h>

/// CRC-32 (zlib's crc32) of `len` bytes: the integrity check of compile-cache entries, which
/// must notice truncation and corruption, not resist an attacker, and must be cheap on the
/// 0.6 MB objects that CO-RE programs on vmlinux.h make (SHA-256 there cost ~3 ms a hit).
uint32_t nb_crc32(const void *data, size_t len);
