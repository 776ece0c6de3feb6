/* liblatentstage_counters.so: LD_PRELOAD it to count, process-wide, heap allocations
 * (malloc, calloc, realloc, aligned allocations; operator new goes through malloc) and bytes
 * passed to memcpy/memmove by calls that reach libc (copies the compiler inlines, and the
 * kernel's socket copies, are not seen). `latentstage bench native` preloads it into the bare
 * gRPC C++ client, the native library and the Python client alike, and reads the counters
 * around each client's measured frames with lsbench_counters().
 *
 * Glibc only (it forwards to __libc_malloc & co. and to the next memcpy/memmove). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);
extern void __libc_free(void*);

static uint64_t g_allocs, g_alloc_bytes, g_copied;
static void* (*g_memcpy)(void*, const void*, size_t);
static void* (*g_memmove)(void*, const void*, size_t);

#define COUNT(var, n) __atomic_fetch_add(&(var), (uint64_t)(n), __ATOMIC_RELAXED)

__attribute__((visibility("default"))) void lsbench_counters(uint64_t out[3]) {
  out[0] = __atomic_load_n(&g_allocs, __ATOMIC_RELAXED);
  out[1] = __atomic_load_n(&g_alloc_bytes, __ATOMIC_RELAXED);
  out[2] = __atomic_load_n(&g_copied, __ATOMIC_RELAXED);
}

__attribute__((constructor)) static void resolve(void) {
  g_memcpy = (void* (*)(void*, const void*, size_t))dlsym(RTLD_NEXT, "memcpy");
  g_memmove = (void* (*)(void*, const void*, size_t))dlsym(RTLD_NEXT, "memmove");
}

void* malloc(size_t n) {
  COUNT(g_allocs, 1);
  COUNT(g_alloc_bytes, n);
  return __libc_malloc(n);
}

void* calloc(size_t n, size_t size) {
  COUNT(g_allocs, 1);
  COUNT(g_alloc_bytes, n * size);
  return __libc_calloc(n, size);
}

void* realloc(void* p, size_t n) {
  COUNT(g_allocs, 1);
  COUNT(g_alloc_bytes, n);
  return __libc_realloc(p, n);
}

void* memalign(size_t align, size_t n) {
  COUNT(g_allocs, 1);
  COUNT(g_alloc_bytes, n);
  return __libc_memalign(align, n);
}

void* aligned_alloc(size_t align, size_t n) { return memalign(align, n); }

int posix_memalign(void** out, size_t align, size_t n) {
  void* p = memalign(align, n);
  if (p == NULL) return 12; /* ENOMEM */
  *out = p;
  return 0;
}

void free(void* p) { __libc_free(p); }

static void* bytewise(void* d, const void* s, size_t n) {
  unsigned char* dst = (unsigned char*)d;
  const unsigned char* src = (const unsigned char*)s;
  if (dst < src) {
    for (size_t i = 0; i < n; ++i) dst[i] = src[i];
  } else {
    for (size_t i = n; i > 0; --i) dst[i - 1] = src[i - 1];
  }
  return d;
}

void* memcpy(void* d, const void* s, size_t n) {
  COUNT(g_copied, n);
  return g_memcpy ? g_memcpy(d, s, n) : bytewise(d, s, n);
}

void* memmove(void* d, const void* s, size_t n) {
  COUNT(g_copied, n);
  return g_memmove ? g_memmove(d, s, n) : bytewise(d, s, n);
}
