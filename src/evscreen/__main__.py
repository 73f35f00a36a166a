from evscreen.launch import main

main()
