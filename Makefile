# The README's commands. Each one installs what is missing (scripts/setup) and builds.
JOBS ?= $(shell nproc)
BUILD ?= build/release
CMAKE_FLAGS ?=

.PHONY: all setup configure build build-cli demo test test-asan bench fuzz format clean

all: build

setup:
	@scripts/setup

configure: setup
	@cmake --preset release $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build --preset release -j $(JOBS)

# The demo needs only the command-line tool, not the tests.
build-cli: configure
	@cmake --build --preset release -j $(JOBS) --target lathe-cli

demo: build-cli
	@scripts/demo

test: build
	@scripts/run-tests build/release

test-asan: setup
	@cmake --preset asan $(CMAKE_FLAGS) >/dev/null
	@cmake --build --preset asan -j $(JOBS)
	@scripts/run-tests build/asan

bench: build
	@scripts/bench

fuzz: setup
	@scripts/fuzz

format:
	@find src apps tests bench fuzz \( -name '*.h' -o -name '*.cpp' -o -name '*.cu' \) -print0 | xargs -0 clang-format -i

clean:
	rm -rf build
