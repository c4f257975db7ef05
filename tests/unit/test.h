/* A minimal test list in the manner of libuv's test/task.h: each test file
 * defines its tests with VTG_TEST(name) and lists them in VTG_TEST_LIST;
 * CTest runs one process per test ("test_x NAME"), so one failure is one
 * red entry and a crash takes down only its own test. */
#ifndef VTG_TEST_H
#define VTG_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VTG_TEST(name) static int test_##name(void)

#define ASSERT(expr)                                                              \
  do {                                                                            \
    if (!(expr)) {                                                                \
      fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #expr); \
      return 1;                                                                   \
    }                                                                             \
  } while (0)

#define ASSERT_EQ(a, b)                                                            \
  do {                                                                             \
    long long a_ = (long long)(a), b_ = (long long)(b);                            \
    if (a_ != b_) {                                                                \
      fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, \
              #a, #b, a_, b_);                                                     \
      return 1;                                                                    \
    }                                                                              \
  } while (0)

#define ASSERT_STR_EQ(a, b)                                                             \
  do {                                                                                  \
    const char *a_ = (a), *b_ = (b);                                                    \
    if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {                              \
      fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__, \
              #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");                          \
      return 1;                                                                         \
    }                                                                                   \
  } while (0)

/* A fresh directory $TMPDIR/vtg-test-NAME-XXXXXX (TMPDIR unset: /tmp), its
 * name in out; 0, or -1 when it does not fit or mkdtemp fails. */
static inline int vtg_test_mkdtemp(char *out, size_t n, const char *name) {
  const char *base = getenv("TMPDIR");
  if (base == NULL || base[0] == '\0') base = "/tmp";
  int k = snprintf(out, n, "%s/vtg-test-%s-XXXXXX", base, name);
  if (k < 0 || (size_t)k >= n) return -1;
  return mkdtemp(out) != NULL ? 0 : -1;
}

/* A database path in a fresh temporary directory, for the tests that open a
 * store: vtg_test_tmpdb_make creates vtg_test_mkdtemp(NAME) and sets path
 * to its c.db (0, or -1 when mkdtemp fails); vtg_test_tmpdb_remove deletes
 * the database with SQLite's -wal/-shm/-journal files and the directory
 * (also after a failed make: then there is nothing to delete). */
typedef struct vtg_test_tmpdb_s {
  char dir[256];
  char path[300];
} vtg_test_tmpdb_t;

static inline int vtg_test_tmpdb_make(vtg_test_tmpdb_t *t, const char *name) {
  t->path[0] = '\0';
  if (vtg_test_mkdtemp(t->dir, sizeof t->dir, name) != 0) return -1;
  snprintf(t->path, sizeof t->path, "%s/c.db", t->dir);
  return 0;
}

static inline void vtg_test_tmpdb_remove(const vtg_test_tmpdb_t *t) {
  static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
  char p[340];
  if (t->path[0] == '\0') return;
  for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
    snprintf(p, sizeof p, "%s%s", t->path, sfx[i]);
    unlink(p);
  }
  rmdir(t->dir);
}

typedef struct vtg_test_entry_s {
  const char *name;
  int (*fn)(void);
} vtg_test_entry_t;

#define VTG_TEST_ENTRY(name) {#name, test_##name},

/* Defines main(): "prog NAME" runs one test, "prog --list" prints the names,
 * "prog" runs all of them. */
#define VTG_TEST_MAIN(...)                                                   \
  static const vtg_test_entry_t vtg_tests_[] = {__VA_ARGS__};                \
  int main(int argc, char **argv) {                                          \
    size_t n = sizeof vtg_tests_ / sizeof vtg_tests_[0];                     \
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {                        \
      for (size_t i = 0; i < n; i++) printf("%s\n", vtg_tests_[i].name);     \
      return 0;                                                              \
    }                                                                        \
    int failed = 0, ran = 0;                                                 \
    for (size_t i = 0; i < n; i++) {                                         \
      if (argc > 1 && strcmp(argv[1], vtg_tests_[i].name) != 0) continue;    \
      ran++;                                                                 \
      int rc = vtg_tests_[i].fn();                                           \
      fprintf(stderr, "%s %s\n", rc ? "FAIL" : "ok  ", vtg_tests_[i].name);  \
      failed += rc != 0;                                                     \
    }                                                                        \
    if (ran == 0) {                                                          \
      fprintf(stderr, "no test named %s\n", argc > 1 ? argv[1] : "");        \
      return 2;                                                              \
    }                                                                        \
    return failed ? 1 : 0;                                                   \
  }

#endif
