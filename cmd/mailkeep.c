/* placeholder until the CLI lands */
#include <stdio.h>
int main(void) { puts("mailkeep"); return 0; }
