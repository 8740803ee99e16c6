from fmslab.cli import main

main()
