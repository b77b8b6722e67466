#!/bin/sh
echo model $1
