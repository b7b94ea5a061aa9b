# `make run` and `make test` each set up what they need: Debian packages when run as root and
# missing, then a virtual environment in .venv with the package installed editable, with its
# `server` extra (the whole stack; a build box's runner needs the package alone) and `dev` tools.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
APT_RUN :=
APT_TEST := lirc supervisor git chromium apache2 sudo dosfstools mtools
STAMP := $(VENV)/.installed

.PHONY: run test check lint setup-test clean

# The dependencies at the versions of constraints.txt: the ones a Pi installs (scripts/wheelhouse).
$(STAMP): pyproject.toml plugins/pytest-appliance/pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --constraint constraints.txt -e '.[server,dev]'
	$(PY) -m pip install --quiet -e plugins/pytest-appliance
	touch $@

run: $(STAMP)
	@scripts/apt-install $(APT_RUN)
	$(VENV)/bin/appliance stack up --config scripts/make-run.toml

setup-test: $(STAMP)
	@scripts/apt-install $(APT_TEST)

lint: $(STAMP)
	$(VENV)/bin/ruff check appliance tests bench plugins
	$(VENV)/bin/ruff format --check appliance tests bench plugins

# The whole suite: real daemons, a real browser, then the roles in Molecule containers and in a
# real `vagrant up`.
test: setup-test lint
	$(VENV)/bin/pytest -q
	$(MAKE) lint-ansible molecule test-vagrant image-check

# The fast loop: no daemons, no browser.
check: $(STAMP)
	$(VENV)/bin/pytest -q -m 'not slow'

clean:
	rm -rf $(VENV) .pytest_cache

# Provisioning: the Ansible roles in ansible/ and their Molecule scenarios in molecule/, with their
# own tools in .venv-ansible (ansible, ansible-lint, yamllint, molecule with podman).
ANSIBLE_VENV := .venv-ansible
ANSIBLE_STAMP := $(ANSIBLE_VENV)/.installed
ANSIBLE_PATH := PATH=$(CURDIR)/$(ANSIBLE_VENV)/bin:$$PATH
APT_MOLECULE := podman runc debootstrap

.PHONY: molecule lint-ansible test-arm64 check-vagrant test-vagrant

$(ANSIBLE_STAMP): molecule/requirements.txt
	python3 -m venv $(ANSIBLE_VENV)
	$(ANSIBLE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(ANSIBLE_VENV)/bin/python -m pip install --quiet -r molecule/requirements.txt
	touch $@

# ansible-lint (production profile) and yamllint.
lint-ansible: $(ANSIBLE_STAMP)
	$(ANSIBLE_PATH) yamllint --strict .
	$(ANSIBLE_PATH) ansible-lint

# site.yml in a Debian bookworm container, then in a trixie one (Python 3.13): create, converge,
# idempotence, verify, destroy.
molecule: $(ANSIBLE_STAMP)
	@scripts/apt-install $(APT_MOLECULE)
	scripts/molecule-test default
	scripts/molecule-test trixie

# The same in an arm64 container (the Pi's architecture) under qemu-user: slow.
test-arm64: $(ANSIBLE_STAMP)
	@scripts/apt-install $(APT_MOLECULE) qemu-user-static binfmt-support
	scripts/molecule-test arm64

# The Vagrantfile's provisioning without Vagrant: site.yml with Vagrant's inventory and variables.
check-vagrant: $(ANSIBLE_STAMP)
	scripts/molecule-vagrant-check

# A real `vagrant up` of the Vagrantfile (libvirt; QEMU emulation where KVM cannot run it), offline
# in a network namespace, with a box built here (cached in ~/.cache/appliance), then the status
# page through the forwarded port. As root; about 15 minutes the first time, 12 with the box cached.
APT_VAGRANT := vagrant vagrant-libvirt libvirt-daemon-system libvirt-daemon-driver-qemu \
	libvirt-clients qemu-system-x86 qemu-utils dnsmasq-base debootstrap iptables ebtables dmidecode \
	fdisk rsync
test-vagrant: $(ANSIBLE_STAMP)
	@scripts/apt-install $(APT_VAGRANT)
	scripts/vagrant-test

# The SD card image (docs/image.md): arm64 Debian with raspi-firmware, provisioned by site.yml in
# a chroot under qemu-user; build/image/appliance-<version>-debian.img.xz. As root.
APT_IMAGE := debootstrap qemu-user-static binfmt-support dosfstools mtools e2fsprogs fdisk xz-utils
APT_IMAGE_TEST := qemu-system-arm openssh-client device-tree-compiler kmod
IMAGE_DIR := build/image
.PHONY: image image-check test-image

# BASE_IMAGE=<Raspberry Pi OS Lite .img.xz>: customise that instead (the raspios base).
BASE_IMAGE :=
image: $(STAMP) $(ANSIBLE_STAMP)
	@scripts/apt-install $(APT_IMAGE)
	$(ANSIBLE_PATH) $(VENV)/bin/appliance image build --output-dir $(IMAGE_DIR) \
		$(if $(BASE_IMAGE),--base raspios --base-image "$(BASE_IMAGE)")

# The build (faults and interruption) and the image as built: its partitions, boot files, the IR
# transmitter, the first-boot unit, nothing of one Pi's own baked in. In `make test`.
image-check: image
	@scripts/apt-install $(APT_IMAGE_TEST)
	$(VENV)/bin/pytest -q -m 'not boot and not customise' tests/sdcard --image "$$(ls -t $(IMAGE_DIR)/*-debian.img.xz | head -1)"

# Those, then the image booted in qemu-system-aarch64: the first boot applies a test appliance.toml,
# then the status page and SSH answer through forwarded ports. Not in `make test` (its time).
test-image: image
	@scripts/apt-install $(APT_IMAGE_TEST)
	$(VENV)/bin/pytest -q tests/sdcard --image "$$(ls -t $(IMAGE_DIR)/*-debian.img.xz | head -1)"
