# Two commands on a fresh machine with python3 (3.11+) and make:
#   make run    set up and serve the product (embedded Valkey unless REDIS_URL)
#   make test   set up, lint, type-check and run every test
# Developer tools, not part of `make test`:
#   make mutants           mutation score of the pure modules (mutmut, ~10 min)
#   make curated-mutants   the curated mutants of the Lua scripts and views
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint fmt typecheck pytest bench demo catalogs messages clean mutants curated-mutants

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "landing needs Python 3.11 or newer")'
	test -x $(BIN)/pip || { rm -rf $(VENV); $(PYTHON) -m venv $(VENV); } || \
	  { rm -rf $(VENV); echo "python3 -m venv failed: install python3-venv (Debian, Ubuntu)"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

# The thank-you page's translations (landing/i18n.py): compiled at setup;
# without them (a PaaS build runs only pip) the app compiles in memory.
PO := $(wildcard translations/*/LC_MESSAGES/messages.po)
MO := $(PO:.po=.mo)

$(MO): %.mo: %.po $(STAMP)
	$(BIN)/pybabel compile --statistics --input-file $< --output-file $@

catalogs: $(MO)

# After changing the text of templates/thanks.html: extract, then merge into
# every language's .po (new or changed messages come out empty or fuzzy).
messages: $(STAMP)
	$(BIN)/pybabel extract --mapping-file babel.cfg --output-file translations/messages.pot \
	  --add-comments Translators: --sort-by-file --no-wrap --project landing .
	$(BIN)/pybabel update --input-file translations/messages.pot \
	  --output-dir translations --no-wrap --ignore-obsolete

run: $(STAMP) catalogs
	$(BIN)/landing run

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) catalogs
	$(BIN)/pytest

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP) catalogs
	$(BIN)/python bench/thanks_throughput.py

demo: $(STAMP) catalogs
	$(BIN)/landing demo $(DEMO_ARGS)

# Mutants of the pure modules against their unit tests ([tool.mutmut] in
# pyproject.toml); starts afresh so the score is of the code as it is now.
MUTANT_JOBS ?= 2
MUTATION_FLOOR ?= 90
mutants: $(STAMP)
	rm -rf mutants
	$(BIN)/mutmut run --max-children $(MUTANT_JOBS) > /dev/null
	$(BIN)/mutmut results
	$(BIN)/mutmut export-cicd-stats > /dev/null
	$(BIN)/python tools/mutation_score.py --floor $(MUTATION_FLOOR)

curated-mutants: $(STAMP)
	$(BIN)/python tools/curated_mutants.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis test-artifacts mutants
