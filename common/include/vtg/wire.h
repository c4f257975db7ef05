/* The envelope on the wire: encoding to a framed buffer, decoding from a
 * payload into an arena so that a batch of results costs no per-result
 * malloc. Uses the protoc-c generated "vantage.pb-c.h". */
#ifndef VTG_WIRE_H
#define VTG_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "vantage.pb-c.h"

#define VTG_PROTOCOL_VERSION 1

/* A bump allocator for protobuf-c unpacking. Chunks are kept between
 * messages; vtg_arena_reset makes them reusable. */
typedef struct vtg_arena_s {
  ProtobufCAllocator allocator; /* pass &arena->allocator to unpack */
  struct vtg_arena_chunk_s *chunks;
  size_t chunk_size;
  size_t limit;       /* max total bytes held; allocations past it fail; 0 = none */
  size_t used_total;
} vtg_arena_t;

void vtg_arena_init(vtg_arena_t *a, size_t limit);
void vtg_arena_reset(vtg_arena_t *a);
void vtg_arena_free(vtg_arena_t *a);

/* Packs env into a newly malloc'd buffer holding header + payload; the
 * caller owns *out (free()). Returns 0, VTG_ENOMEM, or VTG_EFRAME_TOO_LARGE
 * when the payload would exceed max_frame. */
int vtg_wire_encode(const Vantage__Envelope *env, size_t max_frame, uint8_t **out,
                    size_t *out_len);
/* Unpacks a payload into the arena. *out points into the arena and lives
 * until the arena is reset. Returns 0 or VTG_EDECODE. */
int vtg_wire_decode(vtg_arena_t *a, const uint8_t *payload, size_t len,
                    Vantage__Envelope **out);

/* Names of the enums as used in JSON and logs ("up", "http_5xx", ...). */
const char *vtg_wire_outcome_name(Vantage__Outcome o);
const char *vtg_wire_error_class_name(Vantage__ErrorClass e);
/* Parses an error class name; returns 0 or VTG_EINVAL. */
int vtg_wire_error_class_parse(const char *name, Vantage__ErrorClass *out);

#endif
