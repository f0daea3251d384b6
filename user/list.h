/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* A circular doubly linked list with the head as sentinel (as in the kernel). */
#ifndef CUTTHRU_LIST_H
#define CUTTHRU_LIST_H

#include <stddef.h>

struct list_node {
	struct list_node *prev, *next;
};

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void list_init(struct list_node *head)
{
	head->prev = head->next = head;
}

static inline int list_empty(const struct list_node *head)
{
	return head->next == head;
}

static inline int list_linked(const struct list_node *node)
{
	return node->next && node->next != node;
}

static inline void list_add_tail(struct list_node *head, struct list_node *node)
{
	node->prev = head->prev;
	node->next = head;
	head->prev->next = node;
	head->prev = node;
}

static inline void list_del(struct list_node *node)
{
	if (!list_linked(node))
		return;
	node->prev->next = node->next;
	node->next->prev = node->prev;
	node->prev = node->next = node;
}

#endif
