import platform
import sys

def main():
    print(f"Python {sys.version}")
    print(f"Platform: {platform.machine()}")
    print(f"Architecture: {platform.architecture()}")
    print(f"System: {platform.system()}")
    
if __name__ == "__main__":
    main()
