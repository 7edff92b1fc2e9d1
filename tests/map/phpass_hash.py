"""Prints the WordPress (phpass, `$P$B`) hash of each argument, one per line, with passlib."""
import sys

from passlib.hash import phpass

for pw in sys.argv[1:]:
    print(phpass.using(rounds=13).hash(pw))
