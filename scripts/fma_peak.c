/* The CPU's fp32 FMA peak, to say how far inference is from it.
 *
 *   gcc -O2 -mavx512f -mfma -pthread scripts/fma_peak.c -o /tmp/fma_peak && /tmp/fma_peak 2
 *   (add -DWIDTH256 for the AVX2 peak)
 *
 * Each thread runs 12 independent chains of vector FMAs (enough to hide the FMA latency on
 * both FMA pipes) and the total is reported in GFLOP/s (one FMA = 2 FLOP per lane).
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ITERATIONS 200000000L
#define CHAINS 12

#ifdef WIDTH256
typedef __m256 vec;
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define LANES 8
#else
typedef __m512 vec;
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define LANES 16
#endif

float sink[64]; /* visible outside, so the work is not optimised away */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *work(void *arg) {
    /* Named accumulators, not an array: the compiler keeps them in registers as written. */
    vec a0 = SET1(1.0f), a1 = SET1(1.1f), a2 = SET1(1.2f), a3 = SET1(1.3f), a4 = SET1(1.4f),
        a5 = SET1(1.5f), a6 = SET1(1.6f), a7 = SET1(1.7f), a8 = SET1(1.8f), a9 = SET1(1.9f),
        a10 = SET1(2.0f), a11 = SET1(2.1f);
    vec m = SET1(0.999999f), c = SET1(1e-7f);
    for (long i = 0; i < ITERATIONS / CHAINS; i++) {
        a0 = FMA(a0, m, c); a1 = FMA(a1, m, c); a2 = FMA(a2, m, c); a3 = FMA(a3, m, c);
        a4 = FMA(a4, m, c); a5 = FMA(a5, m, c); a6 = FMA(a6, m, c); a7 = FMA(a7, m, c);
        a8 = FMA(a8, m, c); a9 = FMA(a9, m, c); a10 = FMA(a10, m, c); a11 = FMA(a11, m, c);
    }
    vec total = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
    sink[(long)arg] = ((float *)&total)[0];
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    if (threads < 1 || threads > 64) return 2;
    pthread_t ids[64];
    double start = now();
    for (long i = 0; i < threads; i++) pthread_create(&ids[i], NULL, work, (void *)i);
    for (int i = 0; i < threads; i++) pthread_join(ids[i], NULL);
    double seconds = now() - start;
    double flop = (double)threads * (ITERATIONS / CHAINS) * CHAINS * LANES * 2;
    printf("%d thread(s), %d-lane FMA: %.1f GFLOP/s\n", threads, LANES, flop / seconds / 1e9);
    return 0;
}
