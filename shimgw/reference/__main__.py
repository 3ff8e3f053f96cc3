"""`python -m shimgw.reference --port 9001 --port 9002`: stable and canary over one store."""

from shimgw.reference.server import main

if __name__ == "__main__":
    main()
