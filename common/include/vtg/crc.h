/* CRC-32C (Castagnoli), the checksum of the on-disk record formats (the
 * coordinator's result log, the agent's spool): better error detection
 * than the zlib CRC-32 for short records, same cost in software. */
#ifndef VTG_CRC_H
#define VTG_CRC_H

#include <stddef.h>
#include <stdint.h>

/* Continues crc over n bytes of data; start with crc = 0. So
 * vtg_crc32c(vtg_crc32c(0, a, na), b, nb) == CRC of a followed by b.
 * Pure; any thread. vtg_crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t vtg_crc32c(uint32_t crc, const void *data, size_t n);

#endif
