// placeholder: implemented in its own commit
int main(void) { return 0; }
