"""Runs one query of the patchlake bench suite with DuckDB, in a fresh process.

usage: duckdb_runner.py <suite.json> <query name> <hot runs> <result.parquet>

Sets up the same relations the DataFusion side has (patchlake-bench writes suite.json):
each lake table as a view over the selected run's files, history_<table> over every
committed run with the Hive partition columns dt and run_id kept as VARCHAR (no type
inference: account ids and dates stay strings), params/history_params from Parquet, and the
views of queries/views verbatim. Times the first execution (cold) and the best of <hot>
further ones; each execution materializes the whole result inside DuckDB (no conversion to
Python objects). Prints one JSON line; writes the result to <result.parquet> for the
comparison after reading the peak RSS, so writing it is not counted.
"""

import json
import sys
import time

import duckdb


def peak_rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def files_sql(paths):
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def main():
    suite_path, name, hot, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    with open(suite_path) as f:
        suite = json.load(f)
    query = next(q for q in suite["queries"] if q["name"] == name)
    sql = query["duckdb_sql"].strip().rstrip(";")

    started = time.perf_counter()
    con = duckdb.connect(":memory:", config={"threads": suite["threads"]})
    con.execute("SET TimeZone = 'UTC'")
    for table in suite["tables"]:
        t = table["name"]
        con.execute(
            f"CREATE VIEW {t} AS SELECT * FROM read_parquet("
            f"{files_sql(table['current'])}, hive_partitioning = false)"
        )
        con.execute(
            f"CREATE VIEW history_{t} AS SELECT * FROM read_parquet("
            f"{files_sql(table['history'])}, hive_partitioning = true, "
            "hive_types_autocast = false, hive_types = {'dt': VARCHAR, 'run_id': VARCHAR})"
        )
    for t in ("params", "history_params"):
        con.execute(f"CREATE TABLE {t} AS SELECT * FROM read_parquet('{suite[t]}')")
    for view in suite["views"]:
        con.execute(view)
    open_ms = (time.perf_counter() - started) * 1000

    t = time.perf_counter()
    con.execute(sql)
    cold_ms = (time.perf_counter() - t) * 1000
    hot_ms = None
    for _ in range(hot):
        t = time.perf_counter()
        con.execute(sql)
        elapsed = (time.perf_counter() - t) * 1000
        hot_ms = elapsed if hot_ms is None else min(hot_ms, elapsed)
    peak = peak_rss_kib()
    con.execute(f"COPY (\n{sql}\n) TO '{out}' (FORMAT parquet)")
    rows = con.execute(f"SELECT COUNT(*) FROM read_parquet('{out}')").fetchone()[0]
    print(
        json.dumps(
            {
                "engine": "duckdb",
                "version": duckdb.__version__,
                "query": name,
                "open_ms": open_ms,
                "cold_ms": cold_ms,
                "hot_ms": hot_ms if hot_ms is not None else cold_ms,
                "rows": rows,
                "peak_rss_kib": peak,
            }
        )
    )


if __name__ == "__main__":
    main()
