/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The intercepting controller's maps, one purpose line each. */
#ifndef CUTTHRU_BPF_MAPS_H
#define CUTTHRU_BPF_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "cutthru/abi.h"

/* The proxy quad list: one entry per proxied connection (fig. 4, claim 18). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CUTTHRU_QUADS_MAX);
	__type(key, struct cutthru_quad);
	__type(value, struct cutthru_conn);
} quads SEC(".maps");

/* The generation of the policy maps in force (see abi.h), at index 0. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} config_gen SEC(".maps");

/* Protected services: (generation, port, family, address prefix) -> service. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 2 * CUTTHRU_SERVICES_MAX); /* two generations */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct cutthru_service_key);
	__type(value, struct cutthru_service);
} services SEC(".maps");

/* Protected networks, any port: the verdict for portless fragments. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 2 * CUTTHRU_SERVICES_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct cutthru_net_key);
	__type(value, __u32);
} protected_nets SEC(".maps");

/* Admitted sources: (service, family, source prefix) -> 1. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 2 * CUTTHRU_ALLOW_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct cutthru_allow_key);
	__type(value, __u32);
} allowed SEC(".maps");

/* The proxy's own addresses: their traffic is the local stack's. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CUTTHRU_LOCAL_ADDRS_MAX);
	__type(key, struct cutthru_local_key);
	__type(value, __u32);
} local_addrs SEC(".maps");

/* The daemon's transparent listeners, by enum cutthru_listener_slot. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, CUTTHRU_LISTENER_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} listeners SEC(".maps");

/* Sources that logged in to a service, and their user (the seed's uauth). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CUTTHRU_AUTH_SOURCES_MAX);
	__type(key, struct cutthru_source_key);
	__type(value, struct cutthru_auth_source);
} auth_sources SEC(".maps");

/* Failed logins per (service, source), and blocks after too many. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CUTTHRU_AUTH_SOURCES_MAX);
	__type(key, struct cutthru_source_key);
	__type(value, struct cutthru_auth_failures);
} auth_failures SEC(".maps");

/* The SYN rate limit in force (struct cutthru_syn_limit), at index 0. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cutthru_syn_limit);
} syn_limit SEC(".maps");

/* Per source prefix: the theoretical arrival time (ns) of its next SYN. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CUTTHRU_SYN_BUCKETS_MAX);
	__type(key, struct cutthru_syn_key);
	__type(value, __u64);
} syn_buckets SEC(".maps");

/* Packets and bytes the XDP prefilter dropped, by enum cutthru_reason. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CUTTHRU_REASONS);
	__type(key, __u32);
	__type(value, struct cutthru_counter);
} xdp_counters SEC(".maps");

/* Packets and bytes by enum cutthru_reason (TC: every packet it judged). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CUTTHRU_REASONS);
	__type(key, __u32);
	__type(value, struct cutthru_counter);
} counters SEC(".maps");

#endif /* CUTTHRU_BPF_MAPS_H */
