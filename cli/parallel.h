/*
 * parallel.h - `mpirun -np P lext train`: the exchange of data-parallel training (lext_comm,
 * lext.h) over MPI, and its watchdog. Built with MPI when the Makefile finds mpicc
 * (LEXT_MPI); otherwise a launch with more than one rank is refused with a message.
 *
 * The sums are in a fixed order, whatever MPI's own reduction algorithms do: each rank
 * sends range r of its buffer to rank r (MPI_Alltoallv) and rank r adds the P pieces in
 * rank order (the reduce-scatter); after its share's update, MPI_Allgatherv returns every
 * share to everyone. So each sum equals ((x_0 + x_1) + x_2) + ... for every P, the order one
 * process with --accum P uses.
 */
#ifndef LEXT_CLI_PARALLEL_H
#define LEXT_CLI_PARALLEL_H

#include "lext.h"

#include <stdbool.h>

typedef struct {
    lext_comm comm; /* rank, size and the exchange; size 1 when not launched by mpirun */
    bool active;    /* MPI was initialised (it must then be finished) */
} cli_mpi;

/* Gathers n doubles from every rank to rank 0 (n may differ by rank): on rank 0, all
 * receives them in rank order and counts[r] rank r's n (all and counts sized by the caller
 * for the total; call cli_mpi_gather_count first). Returns 0, or 1 after printing. */
int cli_mpi_gather_count(const cli_mpi *c, int n, int *counts);
int cli_mpi_gather_f64(const cli_mpi *c, const double *mine, int n, double *all, const int *counts);

/* Wall time spent in gradient exchanges so far, their number and the floats of the last. */
void cli_mpi_exchange_stats(double *seconds, long *count, size_t *floats);

/* Starts MPI when the process was launched with more than one rank (mpirun, srun: their
 * environment says so). timeout_s > 0 arms a watchdog around every exchange: a rank that
 * waits longer (another rank stalled) prints why and exits, which ends the job. Returns
 * 0, or 1 after printing "lext <cmd>: ..." (more than one rank without MPI support). */
int cli_mpi_start(const char *cmd, cli_mpi *c, double timeout_s);
/* Ends MPI: MPI_Finalize after a success; MPI_Abort after a failure, so that the other
 * ranks stop too instead of waiting for this one forever. */
void cli_mpi_finish(cli_mpi *c, int status);

#endif
