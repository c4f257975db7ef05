/* CRC-32C, reflected polynomial 0x82F63B78, bytewise with a table built
 * at compile time (no global mutable state, no init call, thread-safe). */
#include "vtg/crc.h"

#define P 0x82F63B78u
#define B1(c) (((c) & 1u) ? ((c) >> 1) ^ P : (c) >> 1)
#define B2(c) B1(B1(c))
#define B4(c) B2(B2(c))
#define B8(c) B4(B4(c))
#define R1(n) B8((uint32_t)(n))
#define R4(n) R1(n), R1(n + 1), R1(n + 2), R1(n + 3)
#define R16(n) R4(n), R4(n + 4), R4(n + 8), R4(n + 12)
#define R64(n) R16(n), R16(n + 16), R16(n + 32), R16(n + 48)

static const uint32_t table[256] = {R64(0), R64(64), R64(128), R64(192)};

uint32_t vtg_crc32c(uint32_t crc, const void *data, size_t n) {
  const uint8_t *p = data;
  crc = ~crc;
  while (n--) crc = table[(crc ^ *p++) & 0xffu] ^ (crc >> 8);
  return ~crc;
}
