/* parallel.c - data-parallel training's exchange over MPI (see parallel.h). */
#include "parallel.h"
#include "args.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ranks the launcher started, from its environment (OpenMPI, MPICH/Hydra, Slurm/PMIx) */
static int launched_size(void) {
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return atoi(v);
    }
    return 1;
}

#ifdef LEXT_MPI
#include <mpi.h>

static double watchdog_s;
static int my_rank;
static const char *my_cmd = "train";

static void on_alarm(int sig) {
    (void)sig;
    char msg[256];
    int n = snprintf(msg, sizeof msg,
                     "lext %s: rank %d waited %.0f s for the others in an exchange: a rank stalled "
                     "or died; ending the job (--timeout)\n",
                     my_cmd, my_rank, watchdog_s);
    if (write(STDERR_FILENO, msg, (size_t)n) < 0) { /* nothing more can be done */ }
    _exit(124);
}

static void arm(void) {
    if (watchdog_s > 0) alarm((unsigned)(watchdog_s + 0.999));
}
static void disarm(void) {
    if (watchdog_s > 0) alarm(0);
}

typedef struct {
    int size, rank;
    float *recv;       /* (size, the largest range) pieces of my range from every rank */
    size_t cap;        /* floats it holds */
    int *cnt, *dsp, *rcnt, *rdsp; /* (size) each: MPI's int counts and displacements */
} exchange;

static exchange ex;
static double ex_seconds;
static long ex_count;
static size_t ex_floats;

void cli_mpi_exchange_stats(double *seconds, long *count, size_t *floats) {
    *seconds = ex_seconds, *count = ex_count, *floats = ex_floats;
}

/* The library's lext_fail is its own; a failed exchange says why here, on stderr, and the
 * training run stops with the status (cmd_train then ends the job). */
static lext_status say(lext_status s, const char *what) {
    fprintf(stderr, "lext %s: rank %d: %s\n", my_cmd, my_rank, what);
    return s;
}

static lext_status mpi_fail(const char *what, int rc) {
    char err[MPI_MAX_ERROR_STRING], msg[MPI_MAX_ERROR_STRING + 64];
    int len = 0;
    MPI_Error_string(rc, err, &len);
    snprintf(msg, sizeof msg, "%s failed: %.*s", what, len, err);
    return say(LEXT_ERR_IO, msg);
}

static lext_status to_int(const size_t *counts, const size_t *displs) {
    for (int r = 0; r < ex.size; r++) {
        if (counts[r] > (size_t)INT32_MAX || displs[r] > (size_t)INT32_MAX)
            return say(LEXT_ERR_ARG, "a parameter range exceeds MPI's int counts");
        ex.cnt[r] = (int)counts[r], ex.dsp[r] = (int)displs[r];
    }
    return LEXT_OK;
}

/* every rank sends range r of its buffer to rank r (MPI_Alltoallv); rank r adds the P
 * pieces in rank order */
static lext_status reduce_scatter_f32(float *buf, const size_t *counts, const size_t *displs, void *user) {
    (void)user;
    const size_t P = (size_t)ex.size, mine = counts[ex.rank];
    if (P * mine > ex.cap) { /* the first exchange: kept after (the ranges do not change) */
        free(ex.recv);
        ex.recv = malloc((P * mine > 0 ? P * mine : 1) * sizeof(float));
        if (!ex.recv) return say(LEXT_ERR_NOMEM, "cannot allocate the exchange buffer");
        ex.cap = P * mine;
    }
    lext_status st = to_int(counts, displs);
    if (st) return st;
    for (int r = 0; r < ex.size; r++) ex.rcnt[r] = (int)mine, ex.rdsp[r] = r * (int)mine;
    const double t0 = cli_now();
    arm();
    int rc = MPI_Alltoallv(buf, ex.cnt, ex.dsp, MPI_FLOAT, ex.recv, ex.rcnt, ex.rdsp, MPI_FLOAT,
                           MPI_COMM_WORLD);
    disarm();
    if (rc != MPI_SUCCESS) return mpi_fail("MPI_Alltoallv", rc);
    float *out = buf + displs[ex.rank];
    for (size_t k = 0; k < mine; k++) out[k] = ex.recv[k];
    for (size_t r = 1; r < P; r++)
        for (size_t k = 0; k < mine; k++) out[k] += ex.recv[r * mine + k];
    ex_seconds += cli_now() - t0, ex_count++;
    ex_floats = displs[P - 1] + counts[P - 1];
    return LEXT_OK;
}

static lext_status allgather_f32(float *buf, const size_t *counts, const size_t *displs, void *user) {
    (void)user;
    lext_status st = to_int(counts, displs);
    if (st) return st;
    const double t0 = cli_now();
    arm();
    int rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, buf, ex.cnt, ex.dsp, MPI_FLOAT, MPI_COMM_WORLD);
    disarm();
    if (rc != MPI_SUCCESS) return mpi_fail("MPI_Allgatherv", rc);
    ex_seconds += cli_now() - t0;
    return LEXT_OK;
}

static lext_status gather_f32(float *buf, const size_t *counts, const size_t *displs, void *user) {
    (void)user;
    lext_status st = to_int(counts, displs);
    if (st) return st;
    arm();
    int rc = ex.rank == 0
                 ? MPI_Gatherv(MPI_IN_PLACE, 0, MPI_FLOAT, buf, ex.cnt, ex.dsp, MPI_FLOAT, 0, MPI_COMM_WORLD)
                 : MPI_Gatherv(buf, ex.cnt[ex.rank], MPI_FLOAT, NULL, NULL, NULL,
                               MPI_FLOAT, 0, MPI_COMM_WORLD);
    disarm();
    return rc == MPI_SUCCESS ? LEXT_OK : mpi_fail("MPI_Gatherv", rc);
}

static lext_status sum_f64(double *buf, size_t n, void *user) {
    (void)user;
    /* every rank's n values, grown once (a step sends 3, the norm 64), not each step */
    static double *all;
    static size_t all_cap;
    if ((size_t)ex.size * n > all_cap) {
        free(all);
        all_cap = (size_t)ex.size * n;
        all = malloc(all_cap * sizeof(double));
        if (!all) return all_cap = 0, say(LEXT_ERR_NOMEM, "cannot allocate the exchange");
    }
    arm();
    int rc = MPI_Allgather(buf, (int)n, MPI_DOUBLE, all, (int)n, MPI_DOUBLE, MPI_COMM_WORLD);
    disarm();
    if (rc != MPI_SUCCESS) return mpi_fail("MPI_Allgather", rc);
    for (size_t k = 0; k < n; k++) {
        double s = all[k];
        for (int r = 1; r < ex.size; r++) s += all[(size_t)r * n + k];
        buf[k] = s;
    }
    return LEXT_OK;
}

static lext_status barrier(void *user) {
    (void)user;
    arm();
    int rc = MPI_Barrier(MPI_COMM_WORLD);
    disarm();
    return rc == MPI_SUCCESS ? LEXT_OK : mpi_fail("MPI_Barrier", rc);
}

int cli_mpi_start(const char *cmd, cli_mpi *c, double timeout_s) {
    memset(c, 0, sizeof *c);
    c->comm.size = 1;
    if (launched_size() <= 1) return 0;
    if (MPI_Init(NULL, NULL) != MPI_SUCCESS) return cli_error(cmd, "MPI_Init failed");
    c->active = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &c->comm.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->comm.size);
    /* errors come back as codes (and end the job through cli_mpi_finish), not as aborts
     * from inside a call */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    ex.size = c->comm.size, ex.rank = c->comm.rank;
    ex.cnt = calloc((size_t)ex.size * 4, sizeof(int));
    if (!ex.cnt) return cli_error(cmd, "out of memory");
    ex.dsp = ex.cnt + ex.size, ex.rcnt = ex.dsp + ex.size, ex.rdsp = ex.rcnt + ex.size;
    my_rank = c->comm.rank;
    my_cmd = cmd;
    watchdog_s = timeout_s;
    if (timeout_s > 0) signal(SIGALRM, on_alarm);
    c->comm.reduce_scatter_f32 = reduce_scatter_f32;
    c->comm.allgather_f32 = allgather_f32;
    c->comm.gather_f32 = gather_f32;
    c->comm.sum_f64 = sum_f64;
    c->comm.barrier = barrier;
    return 0;
}

int cli_mpi_gather_count(const cli_mpi *c, int n, int *counts) {
    if (!c->active) return counts[0] = n, 0;
    int rc = MPI_Gather(&n, 1, MPI_INT, counts, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? 0 : (int)(mpi_fail("MPI_Gather", rc) != LEXT_OK);
}

int cli_mpi_gather_f64(const cli_mpi *c, const double *mine, int n, double *all, const int *counts) {
    if (!c->active) { /* one rank: it is rank 0 */
        if (all && n > 0) memcpy(all, mine, (size_t)n * sizeof(double));
        return 0;
    }
    int *displs = NULL;
    if (c->comm.rank == 0) {
        displs = malloc((size_t)c->comm.size * sizeof(int));
        if (!displs) return 1;
        for (int r = 0, at = 0; r < c->comm.size; r++) displs[r] = at, at += counts[r];
    }
    int rc = MPI_Gatherv(mine, n, MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    free(displs);
    return rc == MPI_SUCCESS ? 0 : (int)(mpi_fail("MPI_Gatherv", rc) != LEXT_OK);
}

void cli_mpi_finish(cli_mpi *c, int status) {
    if (!c->active) return;
    alarm(0);
    if (status != 0) MPI_Abort(MPI_COMM_WORLD, status);
    MPI_Finalize();
    free(ex.recv), free(ex.cnt);
    memset(&ex, 0, sizeof ex);
    c->active = false;
}

#else /* built without MPI */

int cli_mpi_start(const char *cmd, cli_mpi *c, double timeout_s) {
    (void)timeout_s;
    memset(c, 0, sizeof *c);
    c->comm.size = 1;
    const int n = launched_size();
    if (n > 1)
        return cli_error(cmd, "launched as %d ranks, but this lext was built without MPI: install "
                              "libopenmpi-dev (scripts/install-deps.sh) and rebuild",
                         n);
    return 0;
}

void cli_mpi_finish(cli_mpi *c, int status) { (void)c, (void)status; }

int cli_mpi_gather_count(const cli_mpi *c, int n, int *counts) {
    (void)c;
    counts[0] = n;
    return 0;
}

int cli_mpi_gather_f64(const cli_mpi *c, const double *mine, int n, double *all, const int *counts) {
    (void)c, (void)counts;
    if (all && n > 0) memcpy(all, mine, (size_t)n * sizeof(double));
    return 0;
}

void cli_mpi_exchange_stats(double *seconds, long *count, size_t *floats) {
    *seconds = 0, *count = 0, *floats = 0;
}

#endif
