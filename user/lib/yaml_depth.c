// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * yaml_depth: see yaml_depth.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <yaml.h>

#include "lib/yaml_depth.h"

int yaml__check_depth(const char *buf, size_t len, int max, size_t *line, size_t *col)
{
	bool deep = false, end = false;
	yaml_parser_t p;
	yaml_event_t e;
	int depth = 0, err;

	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	while (!deep && !end && yaml_parser_parse(&p, &e)) {
		if (e.type == YAML_SEQUENCE_START_EVENT || e.type == YAML_MAPPING_START_EVENT)
			deep = ++depth > max;
		else if (e.type == YAML_SEQUENCE_END_EVENT || e.type == YAML_MAPPING_END_EVENT)
			depth--;
		end = e.type == YAML_STREAM_END_EVENT;
		if (deep) {
			*line = e.start_mark.line + 1;
			*col = e.start_mark.column + 1;
		}
		yaml_event_delete(&e);
	}
	err = deep ? 1 : p.error == YAML_MEMORY_ERROR ? -ENOMEM : 0;
	yaml_parser_delete(&p);
	return err;
}
