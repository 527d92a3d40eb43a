# case-agent — everything runs from a project-local virtual environment (.venv/).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 2024

.PHONY: install demo lint test eval check-catalog serve clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing case-agent into $(VENV)/ (first run only, about a minute)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v "^WARNING: Location" || true
	@$(BIN)/python -c "import agent_graph.graph" && touch $(STAMP)

install: $(STAMP)

# The demo's refund agent (examples/refund_agent.py) keeps its orders and refunds in demo.orders.db.
demo: export REFUND_AGENT_DB := demo.orders.db
demo: $(STAMP)
	@$(BIN)/python examples/refund_agent.py reset
	$(BIN)/case-agent demo
	@$(BIN)/python examples/refund_agent.py refunds

# ruff and mypy, settings in pyproject.toml (mypy: strict, with the exceptions listed there)
lint: $(STAMP)
	$(BIN)/ruff check agent_graph tools tests
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

eval: $(STAMP)
	@mkdir -p out
	$(BIN)/case-agent eval evals/threads --json out/eval.json

check-catalog: $(STAMP)
	$(BIN)/case-agent check-catalog examples/catalog.yaml

# LangGraph server (in-memory, offline) for HTTP clients, Studio and Agent Inbox: docs/server.md
serve: $(STAMP)
	LANGGRAPH_CLI_NO_ANALYTICS=1 $(BIN)/langgraph dev --no-browser --port $(PORT)

clean:
	rm -rf $(VENV) out demo.db demo.checkpoints.db demo.orders.db refund_agent.db *.egg-info .langgraph_api
