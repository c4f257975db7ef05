/* Envelope encoding/decoding and the arena that protobuf-c unpacks into.
 *
 * The arena is a bump allocator over a list of chunks. The list is kept
 * with the chunk being filled at its head; filled chunks follow it, then
 * chunks left idle by the last reset. Nothing is freed per object
 * (protobuf-c's free callback is a no-op); vtg_arena_reset makes every
 * chunk reusable at once, so a steady stream of batches reaches a fixed
 * footprint and stops calling malloc. */
#include "vtg/wire.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "vtg/error.h"
#include "vtg/frame.h"

#define ARENA_DEFAULT_CHUNK (32u * 1024)
#define ARENA_ALIGN (alignof(max_align_t))

struct vtg_arena_chunk_s {
  struct vtg_arena_chunk_s *next;
  size_t size; /* usable bytes after the header */
  size_t used;
  alignas(max_align_t) unsigned char data[];
};

typedef struct vtg_arena_chunk_s chunk_t;

static void *arena_alloc(void *allocator_data, size_t size);
static void arena_free_cb(void *allocator_data, void *ptr);

void vtg_arena_init(vtg_arena_t *a, size_t limit) {
  a->allocator.alloc = arena_alloc;
  a->allocator.free = arena_free_cb;
  a->allocator.allocator_data = a;
  a->chunks = NULL;
  a->chunk_size = ARENA_DEFAULT_CHUNK;
  a->limit = limit; /* 0 = no limit */
  a->used_total = 0;
}

void vtg_arena_reset(vtg_arena_t *a) {
  for (chunk_t *c = a->chunks; c; c = c->next) c->used = 0;
}

void vtg_arena_free(vtg_arena_t *a) {
  chunk_t *c = a->chunks;
  while (c) {
    chunk_t *next = c->next;
    free(c);
    c = next;
  }
  a->chunks = NULL;
  a->used_total = 0;
}

/* Releases idle chunks (used == 0) other than the head, to make room under
 * the limit for a chunk of a different size. */
static void arena_release_idle(vtg_arena_t *a) {
  chunk_t **pp = a->chunks ? &a->chunks->next : &a->chunks;
  while (*pp) {
    chunk_t *c = *pp;
    if (c->used == 0) {
      *pp = c->next;
      a->used_total -= c->size;
      free(c);
    } else {
      pp = &c->next;
    }
  }
  if (a->chunks && a->chunks->used == 0) {
    chunk_t *c = a->chunks;
    a->chunks = c->next;
    a->used_total -= c->size;
    free(c);
  }
}

static int arena_fits(size_t limit, size_t held, size_t size) {
  return limit == 0 || (size <= limit && held <= limit - size);
}

/* Bump allocation, 16-byte aligned. Returns NULL when the limit would be
 * exceeded (protobuf-c then fails the unpack) or malloc fails. */
static void *arena_alloc(void *allocator_data, size_t size) {
  vtg_arena_t *a = allocator_data;
  chunk_t *c, **pp;

  if (size == 0) size = 1;
  if (size > SIZE_MAX / 2) return NULL;
  size = (size + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);

  c = a->chunks;
  if (c && c->size - c->used >= size) goto take;

  /* Look for an idle chunk big enough and move it to the head. */
  for (pp = a->chunks ? &a->chunks->next : &a->chunks; *pp; pp = &(*pp)->next) {
    if ((*pp)->used == 0 && (*pp)->size >= size) {
      c = *pp;
      *pp = c->next;
      c->next = a->chunks;
      a->chunks = c;
      goto take;
    }
  }

  size_t csize = size > a->chunk_size ? size : a->chunk_size;
  if (!arena_fits(a->limit, a->used_total, csize)) {
    arena_release_idle(a);
    if (!arena_fits(a->limit, a->used_total, csize)) {
      csize = size;
      if (!arena_fits(a->limit, a->used_total, csize)) return NULL;
    }
  }
  c = malloc(sizeof *c + csize);
  if (c == NULL) return NULL;
  c->size = csize;
  c->used = 0;
  c->next = a->chunks;
  a->chunks = c;
  a->used_total += csize;

take : {
  void *p = c->data + c->used;
  c->used += size;
  return p;
}
}

static void arena_free_cb(void *allocator_data, void *ptr) {
  /* Memory comes back all at once in vtg_arena_reset. */
  (void)allocator_data;
  (void)ptr;
}

int vtg_wire_encode(const Vantage__Envelope *env, size_t max_frame, uint8_t **out,
                    size_t *out_len) {
  size_t n = vantage__envelope__get_packed_size(env);
  if (max_frame == 0) max_frame = VTG_FRAME_DEFAULT_MAX;
  if (n > max_frame || n > UINT32_MAX) return VTG_EFRAME_TOO_LARGE;
  uint8_t *buf = malloc(VTG_FRAME_HEADER + n);
  if (buf == NULL) return VTG_ENOMEM;
  size_t packed = vantage__envelope__pack(env, buf + VTG_FRAME_HEADER);
  if (packed != n) { /* cannot happen unless env changed under us */
    free(buf);
    return VTG_EINVAL;
  }
  vtg_frame_put_header(buf, (uint32_t)n);
  *out = buf;
  *out_len = VTG_FRAME_HEADER + n;
  return 0;
}

int vtg_wire_decode(vtg_arena_t *a, const uint8_t *payload, size_t len,
                    Vantage__Envelope **out) {
  /* protobuf-c dislikes a NULL data pointer even for len 0. */
  static const uint8_t empty[1];
  Vantage__Envelope *env =
      vantage__envelope__unpack(&a->allocator, len, payload ? payload : empty);
  if (env == NULL) return VTG_EDECODE;
  *out = env;
  return 0;
}

const char *vtg_wire_outcome_name(Vantage__Outcome o) {
  switch (o) {
    case VANTAGE__OUTCOME__OUTCOME_UP: return "up";
    case VANTAGE__OUTCOME__OUTCOME_DEGRADED: return "degraded";
    case VANTAGE__OUTCOME__OUTCOME_DOWN: return "down";
    default: return "unknown";
  }
}

static const char *const error_class_names[] = {
    "none", "dns", "connect_refused", "connect_timeout", "tls", "timeout",
    "reset", "http_5xx", "http_4xx", "assertion", "other"};
#define N_ERROR_CLASSES (sizeof error_class_names / sizeof error_class_names[0])

const char *vtg_wire_error_class_name(Vantage__ErrorClass e) {
  if ((unsigned)e < N_ERROR_CLASSES) return error_class_names[e];
  return "other";
}

int vtg_wire_error_class_parse(const char *name, Vantage__ErrorClass *out) {
  if (name == NULL) return VTG_EINVAL;
  for (size_t i = 0; i < N_ERROR_CLASSES; i++) {
    if (strcmp(name, error_class_names[i]) == 0) {
      *out = (Vantage__ErrorClass)i;
      return 0;
    }
  }
  return VTG_EINVAL;
}
