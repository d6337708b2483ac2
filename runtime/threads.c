/*
 * threads.c - the runtime's one thread pool: kdl_set_num_threads /
 * kdl_get_num_threads (kdl.h) and kdl_parallel_for, kdl_gemm_begin/end
 * (internal.h); pthreads and C11 atomics only.
 *
 * kdl_parallel_for(n, grain, fn, ctx) cuts [0, n) into contiguous chunks of
 * at least grain indices (up to 4 per thread); the caller and the workers
 * claim chunks with an atomic counter until none is left, and the call
 * returns when every claimed chunk is done. So a worker that wakes up late
 * only takes what the caller has not done yet, and a busy core slows a call
 * down to the serial speed at worst. One thread, n < 2 * grain, a nested
 * call from inside a task, or a second thread calling while the pool is in
 * use run fn(ctx, 0, n) inline. Kernels split only work whose results do not
 * depend on the split, so every thread count gives bitwise the same results.
 *
 * One pool: GEMM is only ever called from the calling thread, never from a
 * task. With AVX-512 it runs on this pool itself (gemm.c); otherwise it is
 * OpenBLAS's, and kdl_gemm_begin/end bracket the call: workers sleep on a
 * condition variable then, instead of the short spin (SPIN_NS) with which
 * they otherwise wait for the next job (waking a sleeping thread costs tens
 * of microseconds on a virtual machine, more than many kernels take).
 *
 * Workers are created on first use; the default size is $KDL_NUM_THREADS, or
 * 1 when it is unset (then OpenBLAS is left as it was). An atexit handler
 * stops and joins the workers; a forked child starts with none.
 */
#define _POSIX_C_SOURCE 200809L
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#ifndef KDL_NO_BLAS
void openblas_set_num_threads(int n);
#endif

#define MAX_THREADS 64
#define CHUNKS_PER_THREAD 4
#define SPIN_NS 100000      // how long an idle worker polls before it sleeps

typedef struct Job {
    void (*fn)(void *ctx, size_t begin, size_t end);
    void *ctx;
    size_t n;
    uint32_t chunks;        // chunk i is [n*i/chunks, n*(i+1)/chunks)
    int helpers;            // workers 0 .. helpers-1 take part (the pool may be larger)
} Job;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;    // sleeping workers wait here for a new job
    pthread_cond_t done;    // the caller waits here for the last chunk
    Job job;                // written under lock, before gen moves
    atomic_uint gen;        // the job's generation
    atomic_uint_fast64_t claim;     // (gen << 32) | next unclaimed chunk
    atomic_uint finished;   // chunks of the job done
    atomic_int gemm;        // OpenBLAS is running: no spinning
    int sleepers, caller_waits, stop, nworkers;
    pthread_t workers[MAX_THREADS - 1];
    atomic_int size;        // kdl_get_num_threads; 0 until decided
    atomic_flag busy;       // a kdl_parallel_for is using the pool
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
          .busy = ATOMIC_FLAG_INIT};

static _Thread_local int in_task;     // nested calls run inline
static pthread_once_t env_once = PTHREAD_ONCE_INIT;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

// Claim and run chunks of job j (generation g) until none is left.
static void run_chunks(const Job *j, unsigned g) {
    uint_fast64_t c = atomic_load(&pool.claim);
    for (;;) {
        const uint32_t i = (uint32_t)c;
        if ((unsigned)(c >> 32) != g || i >= j->chunks)
            return;
        if (!atomic_compare_exchange_weak(&pool.claim, &c, c + 1))
            continue;       // c now holds the current value
        const size_t b = j->n * i / j->chunks, e = j->n * (i + 1) / j->chunks;
        j->fn(j->ctx, b, e);
        if (atomic_fetch_add(&pool.finished, 1) + 1 == j->chunks) {
            pthread_mutex_lock(&pool.lock);
            if (pool.caller_waits)
                pthread_cond_signal(&pool.done);
            pthread_mutex_unlock(&pool.lock);
        }
        c = atomic_load(&pool.claim);
    }
}

static void *worker(void *arg) {
    const int id = (int)(intptr_t)arg;
    unsigned seen = atomic_load(&pool.gen);
    in_task = 1;
    for (;;) {
        // Poll a little for the next job (not while OpenBLAS runs), then sleep.
        const uint64_t until = now_ns() + SPIN_NS;
        for (int i = 0; atomic_load(&pool.gen) == seen && !atomic_load(&pool.gemm); i++) {
            cpu_relax();
            if ((i & 255) == 255 && now_ns() > until)
                break;
        }
        pthread_mutex_lock(&pool.lock);
        while (atomic_load(&pool.gen) == seen && !pool.stop) {
            pool.sleepers++;
            pthread_cond_wait(&pool.wake, &pool.lock);
            pool.sleepers--;
        }
        if (pool.stop) {
            pthread_mutex_unlock(&pool.lock);
            return NULL;
        }
        seen = atomic_load(&pool.gen);
        const Job j = pool.job;
        pthread_mutex_unlock(&pool.lock);
        if (id < j.helpers)
            run_chunks(&j, seen);
    }
}

static void stop_workers(void) {
    pthread_mutex_lock(&pool.lock);
    pool.stop = 1;
    pthread_cond_broadcast(&pool.wake);
    int n = pool.nworkers;
    pthread_mutex_unlock(&pool.lock);
    for (int i = 0; i < n; i++)
        pthread_join(pool.workers[i], NULL);
    pool.nworkers = 0;
    pool.stop = 0;
}

// A forked child has none of the parent's threads: start over.
static void after_fork_child(void) {
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pthread_cond_init(&pool.done, NULL);
    pool.nworkers = pool.sleepers = pool.caller_waits = 0;
    atomic_flag_clear(&pool.busy);
}

// Start workers up to want (called with the lock held); fewer if the system
// refuses threads (the caller then runs more chunks itself).
static void start_workers(int want) {
    static int registered;
    if (!registered) {
        atexit(stop_workers);
        pthread_atfork(NULL, NULL, after_fork_child);
        registered = 1;
    }
    while (pool.nworkers < want && pool.nworkers < MAX_THREADS - 1) {
        if (pthread_create(&pool.workers[pool.nworkers], NULL, worker,
                           (void *)(intptr_t)pool.nworkers) != 0)
            break;
        pool.nworkers++;
    }
}

static int online_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

void kdl_set_num_threads(int n) {
    if (n <= 0)
        n = online_cpus();
    if (n > MAX_THREADS)
        n = MAX_THREADS;
    atomic_store(&pool.size, n);
#ifndef KDL_NO_BLAS
    openblas_set_num_threads(n);
#endif
}

static void read_env(void) {
    const char *e = getenv("KDL_NUM_THREADS");
    if (atomic_load(&pool.size) != 0)
        return;     // kdl_set_num_threads came first
    if (e && *e)
        kdl_set_num_threads(atoi(e));
    else
        atomic_store(&pool.size, 1);
}

int kdl_get_num_threads(void) {
    int n = atomic_load(&pool.size);
    if (n == 0) {
        pthread_once(&env_once, read_env);
        n = atomic_load(&pool.size);
    }
    return n;
}

void kdl_gemm_begin(void) {
    atomic_store(&pool.gemm, 1);
}

void kdl_gemm_end(void) {
    atomic_store(&pool.gemm, 0);
}

void kdl_parallel_for(size_t n, size_t grain, void (*fn)(void *ctx, size_t begin, size_t end),
                      void *ctx) {
    if (n == 0)
        return;
    if (grain < 1)
        grain = 1;
    const size_t t = (size_t)kdl_get_num_threads(), most = n / grain;
    if (t <= 1 || most <= 1 || in_task || atomic_flag_test_and_set(&pool.busy)) {
        fn(ctx, 0, n);
        return;
    }
    size_t chunks = t * CHUNKS_PER_THREAD < most ? t * CHUNKS_PER_THREAD : most;
    chunks = chunks < UINT32_MAX ? chunks : UINT32_MAX;
    pthread_mutex_lock(&pool.lock);
    start_workers((int)t - 1);
    pool.job = (Job){fn, ctx, n, (uint32_t)chunks, (int)t - 1};
    const unsigned g = atomic_load(&pool.gen) + 1;
    atomic_store(&pool.finished, 0);
    atomic_store(&pool.claim, (uint_fast64_t)g << 32);
    atomic_store(&pool.gen, g);     // spinning workers go now
    if (pool.sleepers)
        pthread_cond_broadcast(&pool.wake);
    const Job j = pool.job;
    pthread_mutex_unlock(&pool.lock);

    in_task = 1;
    run_chunks(&j, g);
    in_task = 0;

    // Every chunk is claimed; wait for the workers' last ones.
    for (int i = 0; i < 4096 && atomic_load(&pool.finished) < j.chunks; i++)
        cpu_relax();
    if (atomic_load(&pool.finished) < j.chunks) {
        pthread_mutex_lock(&pool.lock);
        pool.caller_waits = 1;
        while (atomic_load(&pool.finished) < j.chunks)
            pthread_cond_wait(&pool.done, &pool.lock);
        pool.caller_waits = 0;
        pthread_mutex_unlock(&pool.lock);
    }
    atomic_flag_clear(&pool.busy);
}
