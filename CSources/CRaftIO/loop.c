/*
 * Loops: one thread each, running uv_run until stopped.
 *
 * Other threads reach a loop two ways, both through one mutex-guarded inbox and one uv_async_t:
 * jobs (rio_loop_submit: a function to run on the loop) and connections with queued work (a
 * writer appended bytes, or asked for a shutdown or close). Only the push that makes the inbox
 * non-empty sends a wake-up, so a burst of writes from another thread costs one uv_async_send.
 *
 * The inbox is also drained from a uv_prepare handle, which runs right before the loop polls:
 * writes made inside I/O callbacks on the loop thread are flushed there, once per loop turn,
 * without any wake-up at all.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rounds of inbox draining per wake-up before yielding to I/O: work queued by callbacks we run
 * is picked up in the next round, but a producer that never stops must not starve the sockets. */
#define MAX_ROUNDS 16

void rio__list_init(rio__link_t *head) { head->prev = head->next = head; }

void rio__list_push(rio__link_t *head, rio__link_t *node) {
    node->next = head;
    node->prev = head->prev;
    head->prev->next = node;
    head->prev = node;
}

void rio__list_remove(rio__link_t *node) {
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node->next = node;
}

static int process_inbox(rio_loop_t *l) {
    uv_mutex_lock(&l->mu);
    rio__job_t *jobs = l->jobs_head;
    rio_conn_t *conns = l->pending;
    l->jobs_head = l->jobs_tail = NULL;
    l->pending = NULL;
    uv_mutex_unlock(&l->mu);
    if (jobs == NULL && conns == NULL) return 0;
    while (jobs != NULL) {
        rio__job_t *next = jobs->next;
        jobs->fn(jobs->arg);
        free(jobs);
        jobs = next;
    }
    while (conns != NULL) {
        rio_conn_t *next = conns->pending_next;
        rio__conn_process(conns); /* releases the reference the inbox held */
        conns = next;
    }
    return 1;
}

static void drain(rio_loop_t *l) {
    for (int round = 0; round < MAX_ROUNDS; round++) {
        if (!process_inbox(l)) return;
        l->activity++;
    }
    uv_async_send(&l->wake); /* more work arrived while we ran: come back after polling */
}

static void on_wake(uv_async_t *a) { drain(a->data); }
static void on_spin(uv_idle_t *h) { (void)h; /* an active idle handle makes the poll non-blocking */ }

/* Before the loop polls: flush what callbacks queued, then decide whether to spin (poll without
 * blocking) or sleep. The loop keeps spinning while activity continues and for `spin_ns` after. */
static void on_prepare(uv_prepare_t *p) {
    rio_loop_t *l = p->data;
    drain(l);
    /* The drain may have run the stop job, which closed the spin handle: never restart it. */
    if (l->spin_ns == 0 || atomic_load(&l->stopping)) return;
    uint64_t now = uv_hrtime();
    if (l->activity != l->activity_seen) {
        l->activity_seen = l->activity;
        l->last_activity = now;
        if (!atomic_load(&l->spinning)) {
            uv_idle_start(&l->spin, on_spin);
            atomic_store(&l->spinning, 1);
        }
    } else if (atomic_load(&l->spinning) && now - l->last_activity > l->spin_ns) {
        uv_idle_stop(&l->spin);
        atomic_store(&l->spinning, 0);
    }
}

rio_loop_t *rio_loop_new(char *err, size_t errlen) {
    /* A peer that resets its connection must cost an EPIPE on that connection, not the process:
     * libuv writes with write(2), which raises SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    rio_loop_t *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        snprintf(err, errlen, "rio_loop_new(): out of memory");
        return NULL;
    }
    l->rbuf = malloc(RIO_READ_BUF_SIZE);
    if (l->rbuf == NULL) {
        snprintf(err, errlen, "rio_loop_new(): out of memory");
        free(l);
        return NULL;
    }
    int rc = uv_loop_init(&l->uv);
    if (rc == 0) rc = uv_async_init(&l->uv, &l->wake, on_wake);
    if (rc != 0) {
        snprintf(err, errlen, "uv_loop_init(): %s", uv_strerror(rc));
        free(l->rbuf);
        free(l);
        return NULL;
    }
    uv_prepare_init(&l->uv, &l->prepare);
    uv_idle_init(&l->uv, &l->spin);
    l->spin_ns = RIO_DEFAULT_SPIN_NS;
    l->wake.data = l;
    l->prepare.data = l;
    l->uv.data = l;
    uv_mutex_init(&l->mu);
    rio__list_init(&l->conns);
    rio__list_init(&l->listeners);
    rio__list_init(&l->timers);
    return l;
}

static void run_thread(void *arg) {
    rio_loop_t *l = arg;
    atomic_store(&l->thread_id, (unsigned long)pthread_self());
    /* A name operators (and the leak tests) can find in /proc/<pid>/task/<tid>/comm. */
    pthread_setname_np(pthread_self(), "rio-loop");
    uv_prepare_start(&l->prepare, on_prepare);
    uv_run(&l->uv, UV_RUN_DEFAULT);
    /* Handles closed during the last turn may still owe their close callbacks. */
    uv_run(&l->uv, UV_RUN_NOWAIT);
}

int rio_loop_start(rio_loop_t *l) {
    int expected = 0;
    if (!atomic_compare_exchange_strong(&l->started, &expected, 1)) return UV_EALREADY;
    int rc = uv_thread_create(&l->thread, run_thread, l);
    if (rc != 0) atomic_store(&l->started, 0);
    return rc;
}

int rio_loop_on_thread(const rio_loop_t *l) {
    return atomic_load(&l->thread_id) == (unsigned long)pthread_self();
}

int rio_loop_submit(rio_loop_t *l, void (*fn)(void *), void *arg) {
    rio__job_t *job = malloc(sizeof(*job));
    if (job == NULL) return UV_ENOMEM;
    job->fn = fn;
    job->arg = arg;
    job->next = NULL;
    uv_mutex_lock(&l->mu);
    if (atomic_load(&l->stopping)) {
        uv_mutex_unlock(&l->mu);
        free(job);
        return RIO_E_LOOP_STOPPED;
    }
    int was_empty = l->jobs_head == NULL && l->pending == NULL;
    if (l->jobs_tail) l->jobs_tail->next = job;
    else l->jobs_head = job;
    l->jobs_tail = job;
    uv_mutex_unlock(&l->mu);
    if (was_empty) uv_async_send(&l->wake);
    return 0;
}

/* Called with conn->mu held, when the connection was not yet on the inbox. The inbox holds a
 * reference until rio__conn_process has run. */
void rio__loop_schedule(rio_loop_t *l, rio_conn_t *c) {
    rio_conn_retain(c);
    uv_mutex_lock(&l->mu);
    int was_empty = l->jobs_head == NULL && l->pending == NULL;
    c->pending_next = l->pending;
    l->pending = c;
    uv_mutex_unlock(&l->mu);
    /* On the loop thread outside the drain, the prepare handle flushes before the next poll;
     * everywhere else the loop may be asleep. */
    if (was_empty) uv_async_send(&l->wake);
}

static void on_internal_closed(uv_handle_t *h) { (void)h; }

static void stop_job(void *arg) {
    rio_loop_t *l = arg;
    process_inbox(l);
    rio__loop_close_all(l);
    uv_close((uv_handle_t *)&l->prepare, on_internal_closed);
    atomic_store(&l->spinning, 0);
    uv_close((uv_handle_t *)&l->spin, on_internal_closed);
    uv_close((uv_handle_t *)&l->wake, on_internal_closed);
}

void rio_loop_set_spin(rio_loop_t *l, uint64_t nanoseconds) { l->spin_ns = nanoseconds; }

void rio_loop_stop(rio_loop_t *l) {
    if (!atomic_load(&l->started)) return;
    int expected = 0;
    if (atomic_compare_exchange_strong(&l->stopping, &expected, 1)) {
        rio__job_t *job = malloc(sizeof(*job));
        /* The stop job bypasses rio_loop_submit, which refuses work once stopping is set. */
        uv_mutex_lock(&l->mu);
        if (job != NULL) {
            job->fn = stop_job;
            job->arg = l;
            job->next = NULL;
            if (l->jobs_tail) l->jobs_tail->next = job;
            else l->jobs_head = job;
            l->jobs_tail = job;
        }
        uv_mutex_unlock(&l->mu);
        uv_async_send(&l->wake);
    }
    expected = 0;
    if (atomic_compare_exchange_strong(&l->joined, &expected, 1)) {
        uv_thread_join(&l->thread);
        /* Every handle is closed now: release the loop's own descriptors (epoll, eventfd) at once
         * rather than when the last Swift reference to the loop goes away. */
        uv_loop_close(&l->uv);
    }
}

void rio_loop_free(rio_loop_t *l) {
    if (l == NULL) return;
    if (!atomic_load(&l->started)) {
        uv_close((uv_handle_t *)&l->prepare, on_internal_closed);
        uv_close((uv_handle_t *)&l->spin, on_internal_closed);
        uv_close((uv_handle_t *)&l->wake, on_internal_closed);
        uv_run(&l->uv, UV_RUN_NOWAIT);
    }
    if (!atomic_load(&l->joined)) uv_loop_close(&l->uv);
    uv_mutex_destroy(&l->mu);
    free(l->rbuf);
    free(l);
}

uint64_t rio_loop_now(const rio_loop_t *l) { return uv_now(&l->uv); }

void rio__loop_close_all(rio_loop_t *l) {
    rio__conn_close_all(&l->conns, "event loop stopped");
    while (l->listeners.next != &l->listeners) {
        rio_listener_t *ls = (rio_listener_t *)((char *)l->listeners.next - offsetof(rio_listener_t, link));
        rio__list_remove(&ls->link);
        rio_listener_close(ls);
    }
    while (l->timers.next != &l->timers) {
        rio_timer_t *t = (rio_timer_t *)((char *)l->timers.next - offsetof(rio_timer_t, link));
        rio__list_remove(&t->link);
        rio_timer_close(t);
    }
}
