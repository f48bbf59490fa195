#include "netbpf_crc32.h"

#include <zlib.h>

uint32_t nb_crc32(const void *data, size_t len) {
    uLong crc = crc32(0L, Z_NULL, 0);
    const unsigned char *p = data;
    while (len > 0) { // zlib takes a uInt length
        uInt chunk = len > 0x40000000u ? 0x40000000u : (uInt)len;
        crc = crc32(crc, p, chunk);
        p += chunk;
        len -= chunk;
    }
    return (uint32_t)crc;
}
