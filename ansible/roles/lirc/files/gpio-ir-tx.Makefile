# Kbuild's makefile for the gpio-ir-tx module alone: DKMS runs it as
# `make -C /lib/modules/<kernel>/build M=<this directory>`.
obj-m := gpio-ir-tx.o
