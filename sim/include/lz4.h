/* Minimal LZ4 block "compressor" for Verilator's FST writer when liblz4's headers are not installed.
 * It emits one literal-only sequence, which is a valid LZ4 block that every FST reader decodes; the file is
 * simply not compressed. Used only by the opt-in waveform build (sim/waves.py). */
#ifndef SYSTOLICA_LZ4_SHIM_H
#define SYSTOLICA_LZ4_SHIM_H
#include <string.h>

static inline int LZ4_compressBound(int n) { return n + n / 255 + 16; }

static inline int LZ4_compress_default(const char* src, char* dst, int n, int cap) {
    int o = 0, rest;
    if (cap < LZ4_compressBound(n)) return 0;
    if (n < 15) {
        dst[o++] = (char)(n << 4);
    } else {
        dst[o++] = (char)0xF0;
        for (rest = n - 15; rest >= 255; rest -= 255) dst[o++] = (char)255;
        dst[o++] = (char)rest;
    }
    memcpy(dst + o, src, (size_t)n);
    return o + n;
}
#endif
