"""The two rollup engines behind one interface: register an event table from Parquet files, run SQL.

DuckDB (embedded, the default) scans the files through a pyarrow dataset, so it reads from any filesystem
the lake is on; Spark (``pyspark``, the ``spark`` extra) reads them itself (local paths, ``s3a://``, ...).
Both get the spec's Arrow schema, so a file written before a field existed reads it as NULL.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.dataset as pads
from obsgen.lake.layout import Lake
from obsgen.lake.sql import DUCKDB, SPARK, Dialect

_SPARK_TYPES = {pa.string(): "STRING", pa.int64(): "BIGINT", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN"}


class Engine(Protocol):
    dialect: Dialect

    def register(self, name: str, files: list[str], schema: pa.Schema) -> None: ...

    def rows(self, sql: str) -> list[tuple[Any, ...]]: ...

    def close(self) -> None: ...


class DuckDBEngine:
    dialect = DUCKDB

    def __init__(self, lake: Lake) -> None:
        import duckdb

        self.lake = lake
        self.con = duckdb.connect()

    def register(self, name: str, files: list[str], schema: pa.Schema) -> None:
        data = pads.dataset(files, schema=schema, format="parquet", filesystem=self.lake.fs) if files \
            else schema.empty_table()
        self.con.register(name, data)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        import duckdb

        try:
            return self.con.execute(sql).fetchall()
        except duckdb.InvalidInputException as e:  # pyarrow's error reading a file of the lake, within DuckDB's
            if "Could not open Parquet input source" not in str(e):
                raise
            raise ValueError(str(e).split("failed: Invalid: ", 1)[-1] + " — move it out of the lake") from e

    def close(self) -> None:
        self.con.close()


def spark_ddl(schema: pa.Schema) -> str:
    def kind(t: pa.DataType) -> str:
        if pa.types.is_list(t):
            return f"ARRAY<{kind(t.value_type)}>"
        return _SPARK_TYPES[t]
    return ", ".join(f"`{f.name}` {kind(f.type)}" for f in schema)


def spark_session(master: str = "local[2]", driver_memory: str | None = None) -> Any:
    """A SparkSession for the rollups (quiet, UTC, few shuffle partitions: lake days are small for Spark).

    ``driver_memory`` (e.g. "6g"; Spark's default is 1g) matters in local mode, where the driver does all the
    work: the join-integrity queries broadcast an event table's keys, which for a day of ten million events
    does not fit in 1g. It has no effect once a JVM runs (under ``spark-submit``, pass ``--driver-memory``)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    if driver_memory:
        builder = builder.config("spark.driver.memory", driver_memory)
    spark = (builder.master(master).appName("obsgen-lake")
             .config("spark.sql.session.timeZone", "UTC").config("spark.sql.shuffle.partitions", "2")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.ansi.enabled", "true").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def spark_path(uri: str) -> str:
    """A path or URI as Spark reads it literally: Hadoop's glob characters escaped, since Spark expands every path
    it is given (a lake under ``/data/lake*`` would read the lakes beside it too; one under ``…[1]`` nothing)."""
    return re.sub(r"([\\{}\[\]*?])", r"\\\1", uri)


class SparkEngine:
    dialect = SPARK

    def __init__(self, lake: Lake, master: str = "local[2]", session: Any = None) -> None:
        self.lake = lake
        self.spark = session if session is not None else spark_session(master)
        self.owned = session is None

    def _uri(self, path: str) -> str:
        return spark_path(f"file://{path}" if self.lake.is_local else self.lake.url(path))

    def register(self, name: str, files: list[str], schema: pa.Schema) -> None:
        ddl = spark_ddl(schema)
        frame = (self.spark.read.schema(ddl).parquet(*map(self._uri, files)) if files
                 else self.spark.createDataFrame([], ddl))
        frame.createOrReplaceTempView(name)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.spark.sql(sql).collect()]

    def close(self) -> None:
        if self.owned:
            self.spark.stop()


def engine(name: str, lake: Lake, master: str = "local[2]", session: Any = None) -> Engine:
    if name == "spark":
        return SparkEngine(lake, master, session)
    return DuckDBEngine(lake)
