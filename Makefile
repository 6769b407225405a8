# emodrift: `make demo` runs the pipeline on sample data, `make test` runs the test suite.
# Both create .venv and install the project first when needed.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed

export PATH := $(BIN):$(PATH)
export AIRFLOW_HOME ?= $(CURDIR)/airflow_home
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__UNIT_TEST_MODE := False
export SPARK_LOCAL_IP ?= 127.0.0.1
export PYSPARK_PYTHON := $(BIN)/python
export PYSPARK_DRIVER_PYTHON := $(BIN)/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export EMODRIFT_LANDING ?= $(CURDIR)/landing
export EMODRIFT_LAKE ?= $(CURDIR)/lake
# OpenLineage events of every DAG task, one JSON object a line (see README "Reliability")
export AIRFLOW__OPENLINEAGE__NAMESPACE ?= emodrift
export AIRFLOW__OPENLINEAGE__TRANSPORT ?= {"type": "file", "log_file_path": "$(AIRFLOW_HOME)/openlineage-events.jsonl", "append": true}

DEMO_USERS ?= 40
DEMO_DAYS ?= 14
DEMO_SEED ?= 7
DEMO_START ?= 2026-01-01
DEMO_LAST := $(shell date -u -d "$(DEMO_START) + $$(( $(DEMO_DAYS) - 1 )) days" +%F)
DEMO_BEFORE_LAST := $(shell date -u -d "$(DEMO_START) + $$(( $(DEMO_DAYS) - 2 )) days" +%F)

.PHONY: install demo test airflow-db clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11) on PATH"; exit 1; }
	@command -v java >/dev/null || { echo "need a Java runtime (17+) for Spark: apt-get install openjdk-17-jre-headless"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --progress-bar off -e '.[dev]'
	touch $(STAMP)

airflow-db: $(STAMP)
	@mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate >$(AIRFLOW_HOME)/migrate.log 2>&1 || { cat $(AIRFLOW_HOME)/migrate.log; exit 1; }

demo: $(STAMP) airflow-db
	$(BIN)/emodrift sample --users $(DEMO_USERS) --days $(DEMO_DAYS) --seed $(DEMO_SEED) --start $(DEMO_START)
	$(BIN)/emodrift backfill --start $(DEMO_START) --end $(DEMO_BEFORE_LAST)
	$(BIN)/airflow dags test emotion_drift_nightly $(DEMO_LAST) >$(AIRFLOW_HOME)/dags_test.log 2>&1 \
		|| { tail -60 $(AIRFLOW_HOME)/dags_test.log; echo "airflow dags test failed: full log in $(AIRFLOW_HOME)/dags_test.log"; exit 1; }
	$(BIN)/emodrift summary --date $(DEMO_LAST)

test: $(STAMP) airflow-db
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf lake landing airflow_home .pytest_cache
